#!/usr/bin/env bash
# An independent check of the webhook intake: wrk replays webhooks signed by a Python script
# written from Twilio's documented algorithm (not omni-loadgen's code), against an Omni whose
# OMNI_TWILIO__API_BASE_URL points at a fake Twilio answering every send with 201 and a sid
# (no status callbacks): start it with `python3 bench/wrk/fake_twilio.py PORT`. Needs wrk
# (Debian: apt-get install wrk), python3 and curl.
#
#   bench/wrk/run.sh FIXTURE URL [CONNECTIONS] [SECONDS] [NEW_PERCENT]
#
# FIXTURE is the file `omni-loadgen seed` wrote for the Omni at URL (its public base URL, the
# one signatures are computed over). Auto-reply is turned on for the fixture's companies
# through the API first (PUT /companies/{id}, with the fixture's admin tokens, which expire
# an hour after the seed). Afterwards it counts the run's messages in the database when
# DATABASE_URL is set: every 200 must be stored once.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fixture=$1 url=$2 conns=${3:-64} secs=${4:-20} new=${5:-10}
python3 - "$fixture" <<'PY' | while read -r id token; do
import json, sys
for c in json.load(open(sys.argv[1]))["companies"]:
    print(c["id"], c["admin_token"])
PY
  curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"settings": {"auto_reply": true}}' "$url/companies/$id" \
    || { echo "run.sh: could not turn auto-reply on for company $id (admin token expired? seed again)" >&2; exit 1; }
done
reqs=$(mktemp)
trap 'rm -f "$reqs"' EXIT
# Enough signed requests for 3,000 webhooks/s; a repeat would be a redelivery.
run=$(python3 "$here/sign_webhooks.py" "$fixture" "$url" $((secs * 3000)) "$new" "$reqs")
wrk -t2 -c"$conns" -d"${secs}s" -s "$here/webhooks.lua" "$url" -- "$reqs" 2
if [ -n "${DATABASE_URL:-}" ]; then
  sleep 2
  psql -X -tA "$DATABASE_URL" -c "SELECT 'stored ' || count(*) || ', distinct ' || count(DISTINCT whatsapp_message_id) FROM ticket_messages WHERE whatsapp_message_id LIKE '$run%'"
fi
