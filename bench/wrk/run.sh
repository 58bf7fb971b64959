#!/usr/bin/env bash
# An independent check of the webhook intake: wrk replays webhooks signed by a Python script
# written from Twilio's documented algorithm (not omni-loadgen's code), against an Omni whose
# OMNI_TWILIO__API_BASE_URL points at fake_twilio.py (201 and a sid for every send, no
# status callbacks). Needs wrk (Debian: apt-get install wrk) and python3.
#
#   bench/wrk/run.sh FIXTURE URL [CONNECTIONS] [SECONDS] [NEW_PERCENT]
#
# FIXTURE is the file `omni-loadgen seed` wrote for the Omni at URL (its public base URL, the
# one signatures are computed over). Afterwards it counts the run's messages in the database
# when DATABASE_URL is set: every 200 must be stored once.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fixture=$1 url=$2 conns=${3:-64} secs=${4:-20} new=${5:-10}
reqs=$(mktemp)
trap 'rm -f "$reqs"' EXIT
# Enough signed requests for 3,000 webhooks/s; a repeat would be a redelivery.
run=$(python3 "$here/sign_webhooks.py" "$fixture" "$url" $((secs * 3000)) "$new" "$reqs")
wrk -t2 -c"$conns" -d"${secs}s" -s "$here/webhooks.lua" "$url" -- "$reqs" 2
if [ -n "${DATABASE_URL:-}" ]; then
  sleep 2
  psql -X -tA "$DATABASE_URL" -c "SELECT 'stored ' || count(*) || ', distinct ' || count(DISTINCT whatsapp_message_id) FROM ticket_messages WHERE whatsapp_message_id LIKE '$run%'"
fi
