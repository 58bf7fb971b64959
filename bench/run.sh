#!/usr/bin/env bash
# `make bench`: Omni under the load of a real deployment, beside the database's own limit.
#
# Builds release; uses $DATABASE_URL's server, or else boots a PostgreSQL cluster of its own
# under target/bench-pg (durable, configured like a production server: see bench_pg_conf);
# makes a fresh database `omni_bench`; starts Omni on it;
# seeds it (BENCH_COMPANIES, BENCH_TICKETS, BENCH_MESSAGES: 100, 1,000,000, 5,000,000);
# runs the scenarios; verifies every accepted webhook is stored exactly once; runs pgbench
# with the webhook's own transaction; writes everything to target/bench/ and prints a
# summary. Needs psql and pgbench (PostgreSQL's client tools).
#
# BENCH_SCENARIOS picks scenarios (comma-separated, default all: conversations, webhooks,
# pgbench, reads, reports, fanout, sockets); BENCH_OMNI_BIN runs another omni-server build on the
# same seed (for before/after comparisons, e.g. a copy of an earlier release build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=target/bench
companies=${BENCH_COMPANIES:-100}
tickets=${BENCH_TICKETS:-1000000}
messages=${BENCH_MESSAGES:-5000000}
duration=${BENCH_DURATION:-30}
port=${BENCH_PORT:-18700}
customers=${BENCH_CUSTOMERS:-4000}
# The fake Twilio inside omni-loadgen's `conversations` listens here; Omni sends to it.
twilio_port=${BENCH_TWILIO_PORT:-18790}
scenarios=${BENCH_SCENARIOS:-conversations,webhooks,pgbench,reads,reports,fanout,sockets}
# The reports scenario's company: its tickets, over how many days, its agents.
report_tickets=${BENCH_REPORT_TICKETS:-1000000}
report_days=${BENCH_REPORT_DAYS:-365}
want() { [[ ",$scenarios," == *",$1,"* ]]; }
omni_bin=${BENCH_OMNI_BIN:-target/release/omni-server}
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.txt "$out"/*.log

say() { printf '\n== %s\n' "$*" >&2; }

for tool in psql pgbench; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (PostgreSQL client tools)" >&2; exit 1; }
done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

say "building (release)"
cargo build --release --bin omni-server --bin omni-loadgen

# The cluster's settings: durable (fsync, synchronous_commit and full_page_writes stay on),
# sized as a dedicated server would be — a quarter of the memory for shared buffers, room
# for a scenario's WAL between checkpoints. The cluster is made afresh on every run (its
# settings are written when it is created).
bench_pg_conf() {
  local mem_mb shared limit
  mem_mb=$(awk '/^MemTotal/ {print int($2 / 1024)}' /proc/meminfo 2>/dev/null || echo 4096)
  # In a container the cgroup's limit, when lower, is the memory there is.
  limit=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || echo max)
  if [ "$limit" != max ] && [ $(( limit / 1048576 )) -lt "$mem_mb" ]; then mem_mb=$(( limit / 1048576 )); fi
  shared=$(( mem_mb / 4 )); [ "$shared" -gt 8192 ] && shared=8192; [ "$shared" -lt 128 ] && shared=128
  cat <<CONF
shared_buffers = ${shared}MB
effective_cache_size = $(( mem_mb / 2 ))MB
max_wal_size = 4GB
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
CONF
}
pg_env=()
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if [ ${#pg_env[@]} -gt 0 ]; then env "${pg_env[@]}" deploy/local-db.sh stop 2>/dev/null || true; fi
}
trap cleanup EXIT
if [ -z "${DATABASE_URL:-}" ]; then
  pg_env=(OMNI_PG_DIR="$PWD/target/bench-pg" OMNI_PG_PORT="${BENCH_PG_PORT:-55433}" OMNI_PG_PROBE=
          OMNI_PG_CONF="$PWD/$out/postgresql.conf")
  env "${pg_env[@]}" deploy/local-db.sh stop 2>/dev/null || true
  rm -rf target/bench-pg
  bench_pg_conf >"$out/postgresql.conf"
fi
admin_url=$(env ${pg_env[@]+"${pg_env[@]}"} deploy/local-db.sh url postgres)
psql -X -tA "$admin_url" -c "SELECT 'PostgreSQL ' || current_setting('server_version') || ', shared_buffers ' || current_setting('shared_buffers') || ', fsync ' || current_setting('fsync') || ', synchronous_commit ' || current_setting('synchronous_commit')" | tee "$out/postgres.txt"
psql -X -q "$admin_url" -c "DROP DATABASE IF EXISTS omni_bench WITH (FORCE)" -c "CREATE DATABASE omni_bench"
db_url=$(DATABASE_URL="$admin_url" deploy/local-db.sh url omni_bench)

secret() { head -c 32 /dev/urandom | base64; }

say "starting Omni on 127.0.0.1:$port"
env DATABASE_URL="$db_url" \
  OMNI_HTTP__BIND="127.0.0.1:$port" \
  OMNI_HTTP__PUBLIC_BASE_URL="http://127.0.0.1:$port" \
  OMNI_AUTH__JWT_SECRET="$(secret)" \
  OMNI_CRYPTO__SECRET_KEY="$(secret)" \
  OMNI_LIMITS__LOGIN_PER_MINUTE_PER_IP=0 \
  OMNI_LIMITS__LOGIN_FREE_FAILURES=0 \
  OMNI_LIMITS__INVALID_WEBHOOKS_PER_MINUTE_PER_IP=0 \
  OMNI_LIMITS__REGISTER_PER_HOUR_PER_IP=0 \
  OMNI_LIMITS__API_PER_MINUTE_PER_USER=0 \
  OMNI_LIMITS__WEBHOOKS_PER_MINUTE_PER_INTEGRATION=0 \
  OMNI_TWILIO__API_BASE_URL="http://127.0.0.1:$twilio_port" \
  OMNI_LOG__LEVEL=warn \
  "$omni_bin" serve >"$out/omni.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }
# Samples Omni's RSS every 100 ms into $1 until the file $2 disappears.
sample_rss() {
  local into=$1 flag=$2 peak=0 now
  while [ -e "$flag" ]; do
    now=$(rss_kb); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.1
  done
  echo "$peak" >"$into"
}
with_rss() { # name command...
  local name=$1; shift
  local flag="$out/.sampling"
  touch "$flag"
  sample_rss "$out/rss_$name.txt" "$flag" &
  local sampler=$!
  "$@"
  rm -f "$flag"; wait "$sampler"
}
sleep 2
rss_kb >"$out/rss_idle_fresh.txt"

say "seeding $companies companies, $tickets tickets, $messages messages"
target/release/omni-loadgen seed --url "http://127.0.0.1:$port" --database-url "$db_url" \
  --companies "$companies" --tickets "$tickets" --messages "$messages" --fixture "$out/fixture.json"
psql -X -q "$db_url" -c "CHECKPOINT" -c "VACUUM ANALYZE"
sleep 3
rss_kb >"$out/rss_idle_seeded.txt"

# The whole conversation, the figure that leads: 10% of webhooks from new customers (built-in
# triage and auto-reply on), agents on WebSockets answering 5%, a fake Twilio taking sends
# and posting sent/delivered/read back; then the drain and the exactly-once checks.
if want conversations; then
for conns in 64 16; do
  say "conversations: $conns connections, ${duration} s"
  with_rss "conversations_$conns" target/release/omni-loadgen conversations --fixture "$out/fixture.json" \
    --database-url "$db_url" --connections "$conns" --duration "$duration" --customers "$customers" \
    --twilio-bind "127.0.0.1:$twilio_port" --json "$out/conversations_$conns.json"
done
fi

if want webhooks; then
# Webhooks alone: 10% from new customers (they open tickets and triage runs; auto-reply is
# off and nothing answers at the Twilio address), the rest continuing open conversations.
say "webhooks: 64 connections, ${duration} s"
with_rss webhooks target/release/omni-loadgen webhooks --fixture "$out/fixture.json" \
  --connections 64 --duration "$duration" --customers "$customers" --run-id SMbench64x --json "$out/webhooks_64.json"
accepted=$(python3 -c "import json;print(json.load(open('$out/webhooks_64.json'))['extra']['accepted'])")
target/release/omni-loadgen verify --database-url "$db_url" --run-id SMbench64x --accepted "$accepted" --json "$out/verify_64.json"

say "webhooks: 16 connections, ${duration} s"
target/release/omni-loadgen webhooks --fixture "$out/fixture.json" \
  --connections 16 --duration "$duration" --customers "$customers" --run-id SMbench16x --json "$out/webhooks_16.json"
accepted=$(python3 -c "import json;print(json.load(open('$out/webhooks_16.json'))['extra']['accepted'])")
target/release/omni-loadgen verify --database-url "$db_url" --run-id SMbench16x --accepted "$accepted" --json "$out/verify_16.json"

# The transaction pgbench replays is a continuing conversation's: the ratio compares like
# with like.
say "webhooks, continuing conversations only: 64 connections, ${duration} s"
target/release/omni-loadgen webhooks --fixture "$out/fixture.json" --continuing-only \
  --connections 64 --duration "$duration" --customers "$customers" --run-id SMbenchC64x --json "$out/webhooks_64_continuing.json"
accepted=$(python3 -c "import json;print(json.load(open('$out/webhooks_64_continuing.json'))['extra']['accepted'])")
target/release/omni-loadgen verify --database-url "$db_url" --run-id SMbenchC64x --accepted "$accepted" --json "$out/verify_64_continuing.json"
fi

if want pgbench; then
cmin=$(psql -X -tA "$db_url" -c "SELECT min(id) FROM companies WHERE name LIKE 'Bench %'")
for clients in 16 64; do
  say "pgbench: the webhook's transaction, $clients clients, ${duration} s"
  pgbench -n -M prepared -c "$clients" -j 2 -T "$duration" -f bench/webhook.pgbench \
    -D cmin="$cmin" -D companies="$companies" -D customers="$customers" "$db_url" \
    | tee "$out/pgbench_$clients.txt"
done
fi

if want reads; then
say "reads: GET /tickets, 500 req/s, ${duration} s"
target/release/omni-loadgen reads --fixture "$out/fixture.json" --rate 500 --duration "$duration" \
  --json "$out/reads.json"
fi

# Reports: one company with a year of history (a million tickets, ~7 million facts), counted
# into tallies by `omni-server recount-reports` (timed), then managers asking for the 90-day
# overview (by day; by week per category; by month per priority) and the agents' report.
if want reports; then
say "reports: seeding one company with $report_tickets tickets over $report_days days"
target/release/omni-loadgen seed-reports --url "http://127.0.0.1:$port" --database-url "$db_url" \
  --tickets "$report_tickets" --days "$report_days" --fixture "$out/reports_fixture.json"
report_company=$(python3 -c "import json;print(json.load(open('$out/reports_fixture.json'))['company_id'])")
say "reports: recounting company $report_company"
started=$(date +%s.%N)
env DATABASE_URL="$db_url" OMNI_LOG__LEVEL=warn "$omni_bin" recount-reports --company "$report_company"
python3 -c "print(round($(date +%s.%N) - $started, 1))" >"$out/recount_secs.txt"
psql -X -q "$db_url" -c "VACUUM ANALYZE report_rollups" -c "VACUUM ANALYZE ticket_facts"
psql -X -tA "$db_url" -c "SELECT count(*) FROM report_rollups WHERE company_id = $report_company" >"$out/report_rollups.txt"
say "reports: 20 reports/s, ${duration} s"
target/release/omni-loadgen reports --fixture "$out/reports_fixture.json" --rate 20 --duration "$duration" \
  --json-overview "$out/reports_overview.json" --json-agents "$out/reports_agents.json"
fi

if want fanout; then
say "fan-out: 1,000 agents, 200 messages/s, 20 s"
target/release/omni-loadgen fanout --fixture "$out/fixture.json" --sockets 1000 --rate 200 \
  --duration 20 --json "$out/fanout.json"
fi

if want sockets; then
say "10,000 idle WebSockets"
rm -f "$out/.sockets_ready"
target/release/omni-loadgen sockets --fixture "$out/fixture.json" --sockets 10000 --hold 8 \
  --ready-file "$out/.sockets_ready" &
sockets_pid=$!
for _ in $(seq 600); do [ -e "$out/.sockets_ready" ] && break; sleep 0.1; done
sleep 3
rss_kb >"$out/rss_sockets_10k.txt"
wait "$sockets_pid"
rm -f "$out/.sockets_ready"
fi

python3 bench/summary.py "$out"
