"""docs/reliability.md from one run's figures (and the raw figures as JSON next to it)."""

from __future__ import annotations

from typing import Any


def _yes(value: Any) -> str:
    return "yes" if value else "**no**"


def _reclaim(spread: dict[str, Any]) -> str:
    if not spread.get("n"):
        return "—"
    return f"median {spread['median']} s, max {spread['max']} s (n={spread['n']})"


def _provenance(f: dict[str, Any], command: str, machine: str) -> str:
    """Which run each scenario's figures come from (the page keeps a scenario's last run)."""
    runs: dict[str, dict[str, str]] = f.get("runs") or {}
    commands = sorted({(r["command"], r["machine"]) for r in runs.values()})
    if len(commands) <= 1:
        return f"Every figure below comes from one run of `{command}` ({machine}, {f['seconds']:.0f} s in all)."
    return "The figures come from these runs: " + "; ".join(
        f"`{c}` ({m}: {', '.join(sorted(n for n, r in runs.items() if (r['command'], r['machine']) == (c, m)))})"
        for c, m in commands) + "."


def _stability(margins: dict[str, Any] | None, suite: dict[str, Any] | None) -> list[str]:
    """The sections on what makes the test suite hold on any machine of the kind."""
    out: list[str] = []
    if suite:
        out += ["", "## The suite on other thread counts and hash seeds", "",
                f"`python -m bench.reliability --only suite`: {suite['command']}, three times, each with another "
                "`OMP_NUM_THREADS` (torch's threads) and `PYTHONHASHSEED`. Floating-point results of training differ "
                "between thread counts and CPUs; the suite asserts contracts and exact behaviour, and the few bars on "
                "what a toy training learns have the margins below.", "",
                "| torch threads | hash seed | passed | failed | skipped | minutes | failed tests |",
                "|---|---|---|---|---|---|---|"]
        for r in suite["runs"]:
            out.append(f"| {r['threads']} | {r['hash_seed']} | {r['passed']} | {r['failed']} | {r['skipped']} | "
                       f"{r['seconds'] / 60:.1f} | {', '.join(r['failures']) or '—'} |")
    if margins:
        out += ["", "## Learned-figure margins", "",
                "`python -m bench.reliability --only margins`: every assertion of the suite about what a toy training "
                "learns (tests/models/test_head.py: each measures through a `*_figures` function), run over seeds "
                f"{margins['seeds']} and torch threads {margins['threads']} "
                f"({len(margins['seeds']) * len(margins['threads'])} runs each), on {margins['cpu']}; the test runs "
                "seed 0.", "",
                "| test | measurement | figure | bar | worst | best | held in every run |",
                "|---|---|---|---|---|---|---|"]
        for r in margins["rows"]:
            out.append(f"| {r['test']} | `{r['measure']}` | {r['figure']} | {r['op']} {r['bar']:g} | "
                       f"{r['worst']:.3f} | {r['best']:.3f} | {_yes(r['held'])} |")
    return out


def markdown(figures: dict[str, Any], *, command: str, machine: str, quick: bool) -> str:
    f = figures
    out = ["# Reliability", "",
           "Faults, floods and hostile files against real processes: `vidgate serve`, `vidgate worker`, a private",
           "`redis-server` per scenario (never a shared one), real encoded videos. " + _provenance(f, command, machine),
           ""]
    if quick:
        out += ["**Short version** (what CI runs): fewer jobs, kills and cases than the full run.", ""]
    out += ["The model is the test suite's tiny checkpoint and a decoder backend that misbehaves on marked videos",
            "(`tests/service/faulty_decoder.py`: slow on one, SIGKILLs its worker on another), so what is measured",
            "is fault handling, not recognition speed. Leases are 2 s (1 s for the frozen worker) so that takeovers",
            "happen within the run; production defaults are in docs/queue.md. *Lost* means accepted (202) and never",
            "finished (or forgotten); *duplicated* means more than one worker's outcome was recorded for one job (each",
            "accepted outcome write logs one line; the bench counts them); *reclaim* is the time from a kill until the",
            "job ran again elsewhere (or finished).", "",
            "## Summary", "", "| scenario | figures |", "|---|---|"]
    for mode in ("redis", "embedded"):
        k = f.get(f"sigkill_{mode}")
        if k:
            extra = f", {k['workers']} workers" if "workers" in k else ""
            out.append(f"| worker SIGKILLs mid-job ({mode}) | {k['kills']} kills{extra}: {k['submitted']} submitted, "
                       f"{k['succeeded']} succeeded, {k['failed']} failed, {k['lost']} lost, {k['duplicated']} "
                       f"duplicated (retry cap {k.get('cap', '—')}); reclaim "
                       f"{_reclaim(k['reclaim_s'])}{' (restart included)' if mode == 'embedded' else ''} |")
    r = f.get("reclaim_at_scale")
    if r:
        out.append(f"| worker SIGKILLed among {r['in_flight']}+ jobs in flight (redis) | {r['kills']} kills, the "
                   f"killed worker's job the newest in flight each time: reclaim {_reclaim(r['reclaim_s'])}; "
                   f"within lease + one heartbeat ({r['lease_s']:g} + {r['heartbeat_s']:g} s): "
                   f"{r['within_bound']}/{r['kills']}; other jobs taken over: {r['other_jobs_moved']} |")
    for mode in ("redis", "embedded"):
        p = f.get(f"poison_{mode}")
        if p:
            out.append(f"| poison video that kills its worker ({mode}) | `{p['status']}` / `{p['code']}` after "
                       f"{p['attempts']} attempts (cap {p['cap']}), {p['worker_deaths']} worker deaths, "
                       f"{p['seconds']} s; jobs behind it: {p['behind_succeeded']}/{p['behind']} succeeded |")
    for row in f.get("broker", []):
        kept = "AOF persistence" if row["persistence"] == "AOF" else "no persistence"
        out.append(f"| Redis {row['case']} ({kept}) | {row['submitted']} jobs: "
                   f"{row['succeeded']} succeeded, {row['lost']} lost, {row['duplicated']} duplicated; workers alive "
                   f"after {row['workers_alive']}, consuming after: {_yes(row['consuming_after'])}"
                   + (f"; orphaned uploads collected by `vidgate gc`: {row['orphaned_uploads_collected']}"
                      if "orphaned_uploads_collected" in row else "") + " |")
    z = f.get("frozen")
    if z:
        out.append(f"| frozen worker (SIGSTOP {z['frozen_s']} s, lease {z['lease_s']} s) | stale write refused: "
                   f"{_yes(z['stale_write_refused'])} ({z['how']}); result.json written by the worker that took "
                   f"over: {_yes(z['result_written_by_survivor'])} |")
    bf, br = f.get("bad_files"), f.get("bad_requests")
    if bf and br:
        files_ok = sum(r["ok"] for r in bf["rows"])
        reqs_ok = sum(r["ok"] for r in br["rows"])
        out.append(f"| {len(bf['rows'])} bad files, {len(br['rows'])} bad requests | files with their 4xx code: "
                   f"{files_ok}/{len(bf['rows'])}; requests with their status and code: {reqs_ok}/{len(br['rows'])};"
                   f" 5xx: {sum(r['status'] >= 500 for r in bf['rows'] + br['rows'])}; tracebacks logged: "
                   f"{br['tracebacks_in_log']}; partial uploads left: {br['partial_files_left']}; healthy after: "
                   f"{_yes(bf['healthy_after'] and br['healthy_after'])} |")
    s = f.get("schemathesis")
    if s:
        found = "".join(f"; `{x['code']}` {x['title']} ×{x['count']} ({', '.join(x['operations'])})"
                        for x in s["failures"])
        out.append(f"| `schemathesis run`, checks: {s['checks']}, with an API key, {s['budget']}, seed {s['seed']} | "
                   f"{s['cases']} cases, {s['server_errors']} server errors, {s['contract_failures']} contract "
                   f"failures{found} ({s['valid_requests_not_counted']} valid requests schemathesis sent as invalid "
                   f"not counted), {s['seconds']} s; healthy after: {_yes(s['healthy_after'])} |")
    ld = f.get("load")
    if ld:
        b, base, dur = ld["burst"], ld["baseline"], ld["during"]
        out.append(f"| {ld['concurrent']} concurrent uploads, then {ld['tricklers']} trickling clients | burst: p50 "
                   f"{b['p50_s']} s, p95 {b['p95_s']} s, {b['accepted']}/{b['n']} accepted, {b['5xx']} 5xx; "
                   f"ordinary uploads alone p50 {base['p50_s']} s / p95 {base['p95_s']} s, next to the tricklers "
                   f"p50 {dur['p50_s']} s / p95 {dur['p95_s']} s ({dur['5xx']} 5xx) |")
    m = f.get("memory")
    if m:
        out.append(f"| API process memory, {m['uploads']} hostile uploads ({m['parallel']} at a time, "
                   f"{m['self_referencing_concat']} of them the self-referencing concat list) | RSS "
                   f"{m['rss_before_mb']} → {m['rss_after_mb']} MB ({m['growth_pct']:+.1f} %, peak "
                   f"{m['rss_peak_mb']} MB); open files "
                   f"{m['open_files_before']} → {m['open_files_after']}; all 4xx: {_yes(m['all_4xx'])} |")
    g = f.get("margins")
    if g:
        held = sum(r["held"] for r in g["rows"])
        out.append(f"| learned-figure bars of the test suite, over seeds {g['seeds']} × torch threads {g['threads']} "
                   f"| {held}/{len(g['rows'])} bars held in every run ({g['cpu']}) |")
    u = f.get("suite")
    if u:
        runs = "; ".join(f"threads {r['threads']}, hash seed {r['hash_seed']}: {r['passed']} passed, {r['failed']} "
                         f"failed, {r['skipped']} skipped in {r['seconds'] / 60:.1f} min" for r in u["runs"])
        out.append(f"| the whole test suite three times | {runs} |")
    out += _stability(g, u)
    out += ["", "## Bad files", "", "Each uploaded once to `POST /v1/jobs` (the API stores it as `jobs/{id}/input`, so "
            "a concat list naming `input` names itself).", "", "| file | what it is | HTTP | code | as expected |",
            "|---|---|---|---|---|"]
    for r in (bf or {}).get("rows", []):
        out.append(f"| `{r['file']}` | {r['what']} | {r['status']} | `{r['code']}` | {_yes(r['ok'])} |")
    out += ["", "## Bad requests", "", "| request | HTTP | code | expected | as expected |", "|---|---|---|---|---|"]
    for r in (br or {}).get("rows", []):
        status = r["status"] or "—"
        out.append(f"| {r['request']} | {status} | `{r['code']}` | {r['expected']} | {_yes(r['ok'])} |")
    if f.get("broker"):
        out += ["", "## Redis outages", "",
                "Redis is SIGKILLed while jobs run and started again on the same port: after the outage, or at once. "
                "With persistence it runs with `--appendonly yes --appendfsync always` (every acknowledged write is "
                "on disk; with the default `everysec` a kill can lose up to a second of writes); without, with "
                "`--save \"\" --appendonly no`, so a restart comes back empty and the jobs it held are lost by "
                "construction — the figure to watch there is that workers survive and keep consuming, and that "
                "`vidgate gc` finds the uploads nothing points to any more.", "",
                "| case | persistence | down for | jobs | succeeded | lost | duplicated | workers alive "
                "| consuming after |",
                "|---|---|---|---|---|---|---|---|---|"]
        for row in f["broker"]:
            out.append(f"| {row['case']} | {row['persistence']} | {row['downtime_s']:g} s | {row['submitted']} | "
                       f"{row['succeeded']} | {row['lost']} | {row['duplicated']} | {row['workers_alive']} | "
                       f"{_yes(row['consuming_after'])} |")
    if ld:
        out += ["", "## Load", "",
                f"Uploads of a {ld['bytes'] // 1000} KB video; the API in Redis mode with no workers, so intake "
                "alone is measured (each upload is streamed to storage and probed in its own limited child "
                "process). Trickling clients send one byte a second and never finish.", "",
                "| run | uploads | accepted | 5xx | no answer | p50 | p95 |", "|---|---|---|---|---|---|---|"]
        for name, row in (("concurrent burst", ld["burst"]), ("ordinary, alone", ld["baseline"]),
                          (f"ordinary, next to {ld['tricklers']} tricklers", ld["during"])):
            out.append(f"| {name} | {row['n']} | {row['accepted']} | {row['5xx']} | {row['no_answer']} | "
                       f"{row['p50_s']} s | {row['p95_s']} s |")
    if s:
        out += ["", "## Contract", "",
                f"`schemathesis run` with checks {s['checks']}, every phase, an API key and seed {s['seed']}, "
                f"against the live API's `/openapi.json` for {s['budget']}. Valid uploads are the test suite's real "
                "videos (`bench/reliability/schemathesis_hooks.py`: no schema can say which bytes are a video). A "
                "well-formed cursor the API did not hand out is answered `400 bad_cursor`, accepted for valid data as "
                "a 404 is for an unknown id (`schemathesis.toml`). DELETE removes a job whatever its state (204, "
                "then 404 for it and everything under it, as use_after_free checks); stopping a job and keeping it "
                "is `POST /v1/jobs/{id}/cancel`. A failure reported as accepted "
                "invalid data whose request, as sent, validates against the schema is not counted (schemathesis "
                "breaks one branch of an `anyOf`, and reads a file part as empty): "
                f"{s['valid_requests_not_counted']} in this run, each with its form in the raw figures "
                "(`schemathesis.not_counted`)."]
    out += ["", "## Reproduce", "", "```", "make reliability            # the full run: this page and "
            "docs/results/reliability.json", "python -m bench.reliability --quick --out /tmp/r.md   # the short "
            "version CI runs (tests/test_reliability.py)", "```", ""]
    return "\n".join(out)
