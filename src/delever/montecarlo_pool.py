"""Where a Monte Carlo sweep's tasks run (:mod:`delever.montecarlo`): ``local`` a joblib process pool (loky),
``dask`` a dask.distributed ``Client`` on a new ``LocalCluster`` (processes, one thread each, no dashboard) or on
the scheduler at ``address``, ``ray`` Ray (``pip install delever[ray]``), a local instance or the cluster at
``address``. Each engine calls the same batch function on the same tasks and reports each finished task, so the
sweep's table does not depend on the engine. The batch function is passed in: this module does not run the
engine itself."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from .workers import die_with_parent, stopping_children

ENGINES = ("local", "dask", "ray")


class EngineUnavailable(RuntimeError):
    """The requested engine's package is not installed (the message names the extra to install)."""


@dataclasses.dataclass
class Task:
    """One task of a sweep: the paths ``items`` (``(path, seed)`` pairs) of grid point ``point``."""

    point: int
    items: list[tuple[int, int]]


def import_ray():
    """The ``ray`` module.

    Raises:
        EngineUnavailable: Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise EngineUnavailable("engine 'ray' needs Ray, which is not installed: pip install delever[ray]") from None
    return ray


@dataclasses.dataclass(frozen=True)
class Work:
    """What a pool runs: ``batch_fn(scenario, market, model, params, items, steps, root)`` on each task's point
    (``args`` = ``(points, markets, model, steps, root)``), calling ``finished(task, out)`` as each completes."""

    batch_fn: Callable[..., list]
    tasks: list[Task]
    args: tuple
    finished: Callable[[Task, list], None]


def run_tasks(engine: str, work: Work, workers: int | None = None, address: str | None = None) -> list:
    """Run every task of ``work`` on ``engine`` (``finished`` is called in any order); returns the outputs in
    the order of the tasks.

    Raises:
        EngineUnavailable: the engine's package is not installed.
    """
    if engine == "local":
        return _run_local(work, workers)
    if engine == "dask":
        with stopping_children():
            return _run_dask(work, workers, address)
    return _run_ray(work, workers, address)


def _call(work: Work, task: Task) -> list:
    points, markets, model, n_steps, root = work.args
    pt = points[task.point]
    return work.batch_fn(pt.scenario, markets[task.point], model, pt.params, task.items, n_steps, root)


def _run_local(work: Work, workers: int | None) -> list:
    from joblib import Parallel, delayed

    batch_fn, tasks, args, finished = work.batch_fn, work.tasks, work.args, work.finished
    points, markets, model, n_steps, root = args
    n_jobs = workers or (os.cpu_count() or 1)
    outs = []
    if n_jobs == 1:
        for t in tasks:
            outs.append(_call(work, t))
            finished(t, outs[-1])
        return outs
    # loky's workers would outlive a killed parent: each makes itself die with this process when it starts,
    # and an exception here (Ctrl-C, SIGTERM) stops them at once (delever.workers)
    pool = Parallel(
        n_jobs=n_jobs,
        backend="loky",
        return_as="generator",
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
    with pool as par, stopping_children():
        gen = par(
            delayed(batch_fn)(
                points[t.point].scenario, markets[t.point], model, points[t.point].params, t.items, n_steps, root
            )
            for t in tasks
        )
        for t, out in zip(tasks, gen, strict=True):
            outs.append(out)
            finished(t, out)
    return outs


def _run_dask(work: Work, workers: int | None, address: str | None) -> list:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - dask is in the test and cluster extras
        raise EngineUnavailable("engine 'dask' needs dask.distributed: pip install delever[cluster]") from None
    batch_fn, tasks, args, finished = work.batch_fn, work.tasks, work.args, work.finished
    points, markets, model, n_steps, root = args
    cluster = None
    if address is None:
        cluster = LocalCluster(
            n_workers=workers or (os.cpu_count() or 1), threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = Client(cluster if cluster is not None else address)
    try:
        if cluster is not None:  # our own workers die with this process (delever.workers)
            client.run(die_with_parent, os.getpid())
        sc_f = [client.scatter(pt.scenario, broadcast=True) for pt in points]
        m_f = [client.scatter(m, broadcast=True) for m in markets]
        futures = [
            client.submit(
                batch_fn,
                sc_f[t.point],
                m_f[t.point],
                model,
                points[t.point].params,
                t.items,
                n_steps,
                root,
                pure=False,
            )
            for t in tasks
        ]
        where = {f.key: i for i, f in enumerate(futures)}
        outs: list = [None] * len(tasks)
        for fut in as_completed(futures):
            i = where[fut.key]
            outs[i] = fut.result()
            finished(tasks[i], outs[i])
        return outs
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run_ray(
    work: Work, workers: int | None, address: str | None
) -> list:  # pragma: no cover - Ray is an optional extra
    ray = import_ray()
    batch_fn, tasks, args, finished = work.batch_fn, work.tasks, work.args, work.finished
    points, markets, model, n_steps, root = args
    started = not ray.is_initialized()
    if started:
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is not None:
            kw["address"] = address
        elif workers is not None:
            kw["num_cpus"] = workers
        ray.init(**kw)
    try:
        remote = ray.remote(num_cpus=1)(batch_fn)
        sc_r = [ray.put(pt.scenario) for pt in points]
        m_r = [ray.put(m) for m in markets]
        refs = [
            remote.remote(sc_r[t.point], m_r[t.point], model, points[t.point].params, t.items, n_steps, root)
            for t in tasks
        ]
        where = {r: i for i, r in enumerate(refs)}
        outs: list = [None] * len(tasks)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                i = where[r]
                outs[i] = ray.get(r)
                finished(tasks[i], outs[i])
        return outs
    finally:
        if started:
            ray.shutdown()
