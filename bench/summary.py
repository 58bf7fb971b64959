#!/usr/bin/env python3
"""Reads what bench/run.sh wrote to target/bench/, checks the targets of the benchmark
issue, writes summary.json and summary.md there, and prints the table."""
import json
import os
import platform
import re
import subprocess
import sys

out = sys.argv[1]


def load(name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else None


def read_int(name):
    path = os.path.join(out, name)
    return int(open(path).read().strip()) if os.path.exists(path) else None


def pgbench_tps(clients):
    path = os.path.join(out, f"pgbench_{clients}.txt")
    if not os.path.exists(path):
        return None
    m = re.search(r"tps = ([0-9.]+)", open(path).read())
    return float(m.group(1)) if m else None


def mb(kb):
    return None if kb is None else round(kb / 1024, 1)


w64, w16 = load("webhooks_64.json"), load("webhooks_16.json")
v64, v16 = load("verify_64.json"), load("verify_16.json")
wc64, vc64 = load("webhooks_64_continuing.json"), load("verify_64_continuing.json")
reads, fanout = load("reads.json"), load("fanout.json")
ro, ra = load("reports_overview.json"), load("reports_agents.json")
pg16, pg64 = pgbench_tps(16), pgbench_tps(64)
ceiling = max(x for x in (pg16, pg64, 0.0) if x is not None)
ratio = round(wc64["throughput_per_sec"] / ceiling, 2) if wc64 and ceiling else None

rows = []


def row(what, target, measured, ok):
    rows.append({"scenario": what, "target": target, "measured": measured, "met": bool(ok)})


# The whole conversation leads (issue 18's targets).
c64, c16 = load("conversations_64.json"), load("conversations_16.json")
for c, conns, p99 in ((c64, 64, 50), (c16, 16, 20)):
    if not c:
        continue
    e = c["extra"]
    row(f"conversations, {conns} connections: webhooks", f"p99 <= {p99} ms"
        + (f", >= pgbench {pg16:,.0f} tps" if conns == 64 and pg16 else ""),
        f"{c['throughput_per_sec']:,.0f}/s, p99 {c['p99_ms']} ms, {c['errors']} errors"
        + (f" ({c['throughput_per_sec'] / pg16:.2f}x pgbench)" if conns == 64 and pg16 else ""),
        c["p99_ms"] <= p99 and c["errors"] == 0
        and (conns != 64 or not pg16 or c["throughput_per_sec"] >= pg16))
    row(f"conversations, {conns}: triage / auto-reply / agent reply lag", "p99 <= 500 ms / 1 s / -",
        f"p99 {e['triage_lag']['p99_ms']} / {e['auto_reply_lag']['p99_ms']} / "
        f"{e['agent_reply_lag']['p99_ms']} ms",
        e["triage_lag"]["p99_ms"] <= 500 and e["auto_reply_lag"]["p99_ms"] <= 1000)
    row(f"conversations, {conns}: job backlog", "<= 1 s of arrivals, empty <= 5 s after",
        f"max {e['jobs_queued_max']} jobs ({e['jobs_queued_max_secs_of_arrivals']} s), "
        f"empty after {e['queue_empty_after_secs']} s, all settled after {e['drained_after_secs']} s",
        e["jobs_queued_max_secs_of_arrivals"] <= 1 and (e["drained_after_secs"] or 99) <= 5)
    row(f"conversations, {conns}: WebSocket delivery", "p99 <= 100 ms",
        f"p99 {e['ws_delivery']['p99_ms']} ms, {e['frames_received']:,}/{e['frames_expected']:,} frames",
        e["ws_delivery"]["p99_ms"] <= 100 and e["frames_received"] >= e["frames_expected"])
    k = e["checks"]
    row(f"conversations, {conns}: exactly once", "0 lost/doubled, all outbound read",
        f"inbound {k['inbound_lost']} lost {k['inbound_doubled']} doubled; outbound {k['outbound']}: "
        f"{k['outbound_doubled']} doubled, {k['outbound_not_sent']} unsent, {k['outbound_not_read']} not read",
        k["ok"])
    rss = read_int(f"rss_conversations_{conns}.txt")
    if rss is not None:
        row(f"conversations, {conns}: memory", "<= 64 MB RSS", f"{mb(rss)} MB", rss <= 64 * 1024)


if w64:
    row("webhooks, 64 connections, 10% new customers, sustained",
        ">= 5,500/s, 0 errors, 0 lost, 0 doubled",
        f"{w64['throughput_per_sec']:,.0f}/s, {w64['errors']} errors, "
        f"{v64['lost']} lost, {v64['doubled']} doubled (p99 {w64['p99_ms']} ms)",
        w64["throughput_per_sec"] >= 5500 and w64["errors"] == 0 and v64["ok"])
if w16:
    row("webhook latency, 16 connections", "p99 <= 20 ms",
        f"p99 {w16['p99_ms']} ms (p50 {w16['p50_ms']} ms, {w16['throughput_per_sec']:,.0f}/s, "
        f"{v16['lost']} lost, {v16['doubled']} doubled)",
        w16["p99_ms"] <= 20 and w16["errors"] == 0 and v16["ok"])
if wc64:
    row("webhooks, 64 connections, continuing conversations only", "0 errors, 0 lost, 0 doubled",
        f"{wc64['throughput_per_sec']:,.0f}/s, {wc64['errors']} errors, "
        f"{vc64['lost']} lost, {vc64['doubled']} doubled (p99 {wc64['p99_ms']} ms)",
        wc64["errors"] == 0 and vc64["ok"])
if ratio is not None:
    row("continuing webhooks / pgbench of the same transaction", ">= 1.0",
        f"{ratio} ({wc64['throughput_per_sec']:,.0f}/s vs pgbench {pg16:,.0f} tps at 16 clients, "
        f"{f'{pg64:,.0f}' if pg64 else '-'} at 64)", ratio >= 1.0)
if fanout:
    row("fan-out, 1,000 sockets, 200 messages/s", "delivery p99 <= 100 ms",
        f"p99 {fanout['p99_ms']} ms (p50 {fanout['p50_ms']} ms), "
        f"{fanout['extra']['frames_received']:,}/{fanout['extra']['frames_expected']:,} frames",
        fanout["p99_ms"] <= 100 and fanout["errors"] == 0)
if reads:
    row("GET /tickets first page, 500 req/s", "p99 <= 20 ms",
        f"p99 {reads['p99_ms']} ms (p50 {reads['p50_ms']} ms, {reads['throughput_per_sec']:,.0f}/s, "
        f"{reads['errors']} errors)", reads["p99_ms"] <= 20 and reads["errors"] == 0)
if ro and ra:
    recount = open(os.path.join(out, "recount_secs.txt")).read().strip() \
        if os.path.exists(os.path.join(out, "recount_secs.txt")) else "?"
    facts = ro["settings"].get("facts")
    row(f"reports: 90-day overview, {ro['settings'].get('tickets'):,} tickets", "p99 <= 100 ms",
        f"p99 {ro['p99_ms']} ms (p50 {ro['p50_ms']} ms, {ro['errors']} errors); "
        f"recount of {facts:,} facts {recount} s",
        ro["p99_ms"] <= 100 and ro["errors"] == 0)
    row("reports: 90-day agents' report", "p99 <= 200 ms",
        f"p99 {ra['p99_ms']} ms (p50 {ra['p50_ms']} ms)", ra["p99_ms"] <= 200)
idle, load_peak, sockets = (read_int("rss_idle_seeded.txt"), read_int("rss_webhooks.txt"),
                            read_int("rss_sockets_10k.txt"))
# Only a run of every scenario measures all three.
if None not in (idle, load_peak, sockets):
    row("memory", "<= 32 MB idle, <= 64 MB under webhook load, <= 300 MB with 10,000 sockets",
        f"{mb(idle)} MB idle, {mb(load_peak)} MB peak under load, {mb(sockets)} MB with 10,000 sockets",
        idle <= 32 * 1024 and load_peak <= 64 * 1024 and sockets <= 300 * 1024)

fixture = load("fixture.json") or {}
machine = {
    "cpus": os.cpu_count(),
    "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
    "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    "kernel": platform.release(),
    "postgres": subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip(),
    # The server the run used, as it reported itself (version and durability settings).
    "server": (open(os.path.join(out, "postgres.txt")).read().strip()
               if os.path.exists(os.path.join(out, "postgres.txt")) else "?"),
}
summary = {"machine": machine, "targets": rows, "pgbench_tps": {"16": pg16, "64": pg64},
           "ratio": ratio, "rss_mb": {"idle_fresh": mb(read_int("rss_idle_fresh.txt")),
                                      "idle_seeded": mb(idle), "webhook_load_peak": mb(load_peak),
                                      "sockets_10k": mb(sockets)},
           "scenarios": {"webhooks_64": w64, "webhooks_16": w16, "webhooks_64_continuing": wc64,
                         "reads": reads, "fanout": fanout, "reports_overview": ro,
                         "reports_agents": ra},
           "verify": {"64": v64, "16": v16, "64_continuing": vc64}}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)

lines = ["| scenario | target | measured | met |", "|---|---|---|---|"]
lines += [f"| {r['scenario']} | {r['target']} | {r['measured']} | {'yes' if r['met'] else 'no'} |" for r in rows]
md = "\n".join(lines)
md += (f"\n\nMachine: {machine['cpus']} cores ({machine['cpu']}), {machine['memory_gb']} GiB, "
       f"Linux {machine['kernel']}, server {machine['server']}; Omni, PostgreSQL and the load generator "
       f"on the same machine.\n")
open(os.path.join(out, "summary.md"), "w").write(md)
print(md)
