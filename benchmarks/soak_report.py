"""The device server soak's report (agent_soak.py): a dated section appended to the results
file, so earlier runs stay beside the new one."""

from __future__ import annotations

import datetime as dt
import statistics
import sys
from pathlib import Path

from machine_info import commit, machine_line
from soak_probes import KINDS

TITLE = "# Device server soak"


def _ok(met: bool) -> str:
    return "yes" if met else "NO"


def acceptable(kind: str, probe) -> bool:
    """4xx/503 as JSON, or the connection closed by a limit (the gone kinds hang up)."""
    if probe.status in ("closed", "went away"):
        return probe.status == "closed" or kind in ("gone_mid_measure", "heavy_gone")
    return (probe.status.startswith("4") or probe.status == "503") and probe.json


def write_report(args, records, errors, baseline, baseline_peak, peak, samples, upload, wall,
                 still_serving, log, temp_left, stopped, stop_seconds, load_before, load_after,
                 cap_mb, freed) -> None:
    upload_mb = upload / 2**20
    growth = peak - baseline_peak
    abusive = {k: v for k, v in records.items() if k != "valid"}
    valid = [probe for _, probe in records["valid"]]
    lost = [p for p in valid if p.status != "200"]
    wrong = {k: sorted({p.outcome for _, p in v if not acceptable(k, p)})
             for k, v in abusive.items()}
    wrong = {k: v for k, v in wrong.items() if v}
    late = {k: max(p.seconds - p.deadline for _, p in v)
            for k, v in abusive.items()
            if any(p.deadline is not None and p.seconds > p.deadline + 1 for _, p in v)}
    deadline_kinds = sorted({k for k, v in abusive.items()
                             if any(p.deadline is not None for _, p in v)})
    tracebacks = log.count("Traceback")
    server_max = max((s for s, _ in samples), default=float("nan"))
    child_max = max((c for _, c in samples), default=float("nan"))
    server_start, child_start = baseline
    stop_ok = stopped.status == "503" and stopped.json and stopped.limit == "shutdown"
    command = " ".join(["python benchmarks/agent_soak.py", *sys.argv[1:]])
    lines = [
        f"## {dt.date.today().isoformat()}: issue 29 (each model in a child process)", "",
        f"Command: `{command}`  ",
        f"Machine: {machine_line()}, commit {commit()}  ",
        f"Load before: `{load_before}`  ",
        f"Load after: `{load_after}`  ",
        f"Server: ort-cpu, 1 thread, upload limit {args.upload_mb} MiB, max waiting "
        f"{args.max_waiting} (half per address), header/body timeouts 2/2 s, minimum upload "
        f"rate 64 KiB/s, deadline 3 s, memory cap {cap_mb} MiB; {args.clients} clients for "
        f"{wall:.0f} s (seeded mix, weights "
        f"{ {kind: weight for kind, (_, weight) in KINDS.items()} })", "",
        "### Goals", "",
        "| goal | measured | met |", "|---|---|---|",
        f"| every probe answered 4xx/503 as JSON, or closed by a limit | "
        f"{sum(len(v) for v in abusive.values())} abusive requests; otherwise: "
        f"{wrong or 'none'} | {_ok(not wrong)} |",
        f"| ... within its deadline + 1 s ({', '.join(deadline_kinds)}) | latest beyond its "
        f"deadline: {late or 'none over 1 s'} | {_ok(not late)} |",
        f"| device free within 1 s of a client leaving | {len(freed)} hang-ups seen stopped: "
        f"median {_median(freed):.2f} s, max {max(freed, default=float('nan')):.2f} s | "
        f"{_ok(bool(freed) and max(freed) <= 1)} |",
        f"| server RSS never above its start + the memory cap ({cap_mb} MiB) | server max "
        f"{server_max:.0f} MiB (start {server_start:.0f}); peak growth {growth:.1f} MiB "
        f"(<= 2 uploads, {2 * upload_mb:.0f} MiB: {_ok(growth <= 2 * upload_mb)}) | "
        f"{_ok(server_max <= server_start + cap_mb)} |",
        f"| measuring process RSS never above its start + the cap | max {child_max:.0f} MiB "
        f"(start {child_start:.0f}) | {_ok(child_max <= child_start + cap_mb)} |",
        f"| zero tracebacks in the server log | {tracebacks} | {_ok(not tracebacks)} |",
        f"| a normal client served throughout (no valid measurement lost) | "
        f"{len(valid) - len(lost)} of {len(valid)} valid measurements returned a result; "
        f"the slowest took {max((p.seconds for p in valid), default=0):.1f} s (busy answers "
        f"retried) | "
        f"{_ok(valid and not lost)} |",
        f"| SIGTERM during a measurement: JSON 503 within 1 s | {stopped.outcome} after "
        f"{stop_seconds:.2f} s | {_ok(stop_ok and stop_seconds <= 1)} |",
        f"| still serving after the soak; temp files left | GET /info -> {still_serving}; "
        f"{temp_left} bytes | {_ok(bool(still_serving) and not temp_left)} |", "",
        "### Answers by kind", "",
        "| kind | requests | answers | mean s per request | max s beyond its deadline |",
        "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        probes = [p for _, p in records.get(kind, [])]
        counts: dict[str, int] = {}
        for probe in probes:
            counts[probe.outcome] = counts.get(probe.outcome, 0) + 1
        answers = ", ".join(f"{s}: {n}" for s, n in sorted(counts.items()))
        mean = statistics.fmean(p.seconds for p in probes) if probes else 0
        beyond = [p.seconds - p.deadline for p in probes if p.deadline is not None]
        lines.append(f"| {kind} | {len(probes)} | {answers or '-'} | {mean:.2f} | "
                     f"{max(beyond):+.2f} |" if beyond else
                     f"| {kind} | {len(probes)} | {answers or '-'} | {mean:.2f} | - |")
    lines += ["", "Answers name the limit that ended them (`limit` in the JSON). 429: too many "
              "requests waiting, in all or from one address (with Retry-After; the valid "
              "client retries it, as a search does). `closed`: the server closed the "
              "connection (a header timeout, an idle socket making room, a refused upload "
              "too large to drain). `went away`: the client hung up before any answer. "
              "heavy_model's seconds are the server's own (`stopped after`, from the job's "
              "start); the others' are the client's.", ""]
    if errors:
        lines += ["### Client errors (first 10)", "", *[f"- {e}" for e in errors[:10]], ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    earlier = out.read_text() if out.exists() else f"{TITLE}\n"
    out.write_text(earlier.rstrip("\n") + "\n\n" + "\n".join(lines))
    print("\n".join(lines))


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
