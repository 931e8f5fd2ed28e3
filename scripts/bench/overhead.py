"""Overhead on real servers: one wrk run of one configuration (bare or a tool attached)."""

from common import *  # noqa: F401,F403
from tools import AGENTS


def overhead_run(server, config, rnd, P):
    tag = f"{server.kind}-{config}-r{rnd}"
    server.check_alive()
    agent = AGENTS[config](server, tag) if config != "bare" else None
    agent_pids = agent.pids() if agent else []
    try:
        run_wrk(server.url, P["warmup_s"], tag + "-warmup", latency=False)
        win = CpuWindow(lambda: server.pids() + agent_pids).start()
        ac0 = {p: cpu_ticks(p) for p in agent_pids}
        an0 = {p: task_cpu_ns(p) for p in agent_pids}
        res = run_wrk(server.url, P["run_s"], tag)
        an1 = {p: task_cpu_ns(p) for p in agent_pids}
        ac1 = {p: cpu_ticks(p) for p in agent_pids}
        res.update(win.stop())
    except BaseException:
        if agent:
            try:
                agent.stop()
            except BenchError:
                pass
        raise
    res.update(server=server.kind, config=config, round=rnd)
    res["cpu_us_per_req"] = res["bench_cpu_s"] * 1e6 / res["requests"]
    if agent_pids:
        res["agent_cpu_pct"] = pct_of_core(sum(ac1[p] - ac0[p] for p in agent_pids),
                                           res["seconds"])
        if all(an0[p] is not None and an1[p] is not None for p in agent_pids):
            # ns resolution (schedstat), for the per-request cost account
            res["agent_cpu_ns_per_req"] = sum(an1[p] - an0[p] for p in agent_pids) / res["requests"]
    if agent:
        agent.stop()
    if config == "stallscope":
        res["agent_hwm_kb"] = agent.hwm_kb
        res["agent_stop_s"] = agent.stop_s
        res["agent_reports"] = agent.reports
    extra = ""
    if "agent_cpu_pct" in res:
        extra = f", agent {res['agent_cpu_pct']:.1f}% cpu"
    log(f"{tag}: {res['rps']:.0f} req/s, p99 {res['p99_ms']:.2f} ms{extra}, "
        f"other processes {res['other_cpu_pct']:.0f}% cpu")
    if res["errors"] or res["non_2xx"]:
        log(f"  warning: {res['errors']} socket errors, {res['non_2xx']} non-2xx responses")
    return res


