"""The printed table of a bench run (also stored in the JSON as "table")."""


def _range(s: dict, digits: int = 0, scale: float = 1.0) -> tuple[str, str]:
    if not s or s.get("median") is None:
        return "-", ""
    fmt = f"{{:,.{digits}f}}"
    return (
        fmt.format(s["median"] * scale),
        f"{fmt.format(s['min'] * scale)}-{fmt.format(s['max'] * scale)}",
    )


def _cpu_per_request(runs: list[dict]) -> str:
    """Server and PostgreSQL CPU milliseconds per request, over all runs of a kind."""
    requests = sum(r.get("requests") or 0 for r in runs)
    if not requests:
        return "-"
    server = sum(r["cpu"]["server_cpu_seconds"] for r in runs) * 1000 / requests
    db = sum(r["cpu"]["postgres_cpu_seconds"] for r in runs) * 1000 / requests
    return f"{server:.2f} / {db:.2f}"


def _p99_marked(run: dict) -> str:
    """A run's p99, marked when a vacuum of the attribute table ran beside it."""
    vacuumed = run.get("background", {}).get("attribute_table_vacuumed")
    return f"{run['latency_ms']['p99']:g}{'*' if vacuumed else ''}"


def _sync_and_steal(run: dict) -> str:
    """A run's mean WAL sync (the wait of every commit) and the share of CPU the host took."""
    sync = run.get("background", {}).get("wal_sync_mean_ms")
    stolen = run["cpu"].get("machine_stolen_share")
    return (
        f"{'-' if sync is None else f'{sync:g} ms'} "
        f"{'-' if stolen is None else f'{100 * stolen:.0f}%'}"
    )


def _middle(values: list[float], fmt: str) -> tuple[str, str]:
    """The median of some values and their range, formatted."""
    values = sorted(values)
    return fmt.format(values[len(values) // 2]), f"{fmt.format(values[0])}-{fmt.format(values[-1])}"


def _load_runs(groups: dict) -> list[dict]:
    """Every measured load run of the groups, whatever its kind."""
    runs = []
    for group in groups.values():
        for entry in group.values():
            if isinstance(entry, dict) and isinstance(entry.get("runs"), list):
                runs += [r for r in entry["runs"] if isinstance(r, dict) and "cpu" in r]
    return runs


def layers_text(shares: dict[str, float], count: int = 4) -> str:
    """The largest layers of a request's app CPU: "Django ORM 28, project 21, ..."."""
    largest = sorted(shares.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{layer} {100 * share:.0f}" for layer, share in largest)


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "MISSED")


def table(results: dict, goals: dict) -> list[str]:
    rows: list[tuple[str, str, str, str, str]] = []
    groups = results.get("groups", {})

    def add(label, value, span="", goal="", verdict=""):
        rows.append((label, value, span, goal, verdict))

    ingest = groups.get("ingest")
    if ingest:
        names = {
            "B0": "B0 trivial JSON view, req/s",
            "B1": "B1 DRF validate-only, req/s",
            "B2": "B2 identify, req/s",
            "B3": "B3 pgbench identify SQL, tx/s",
        }
        for kind, label in names.items():
            add(label, *_range(ingest[kind]["rps"]))
        ratios = ingest["ratios"]
        b2b0, b2b3 = ratios["B2/B0"], ratios["B2/B3"]
        add(
            "B2/B0",
            *_range(b2b0, 3),
            f">= {goals['B2/B0']}",
            _verdict(b2b0["median"] >= goals["B2/B0"]),
        )
        add("B2/B1", *_range(ratios["B2/B1"], 3))
        add(
            "B2/B3",
            *_range(b2b3, 3),
            f">= {goals['B2/B3']}",
            _verdict(b2b3["median"] >= goals["B2/B3"]),
        )
        for kind in ("B0", "B2"):
            add(
                f"{kind} requests per CPU-second (server + db)",
                *_range(ingest[kind]["requests_per_cpu_second"]),
            )
        for kind in ("B0", "B1", "B2"):
            add(f"{kind} CPU per request, app / db, ms", _cpu_per_request(ingest[kind]["runs"]))
        add(
            "load tool CPU share, % (wrk, B2 runs)", *_range(ingest["B2"]["tool_cpu_share"], 1, 100)
        )
        busy = [100 * r["cpu"]["machine_busy_share"] for r in ingest["B2"]["runs"]]
        add("machine busy during B2 runs, % (everything)", _middle(busy, "{:.0f}")[0])
        syncs = [
            r["background"]["wal_sync_mean_ms"]
            for r in ingest["B2"]["runs"]
            if r.get("background", {}).get("wal_sync_mean_ms") is not None
        ]
        if syncs:
            add(
                "mean WAL sync during B2 runs, ms (each commit waits for one)",
                *_middle(syncs, "{:g}"),
            )
    latency = groups.get("latency")
    if latency:
        for label in ("50%", "80%"):
            g = latency[label]
            p99 = g["p99_ms"]["median"]
            goal = f"p99 <= {goals['p99_at_50_ms']:g} ms" if label == "50%" else ""
            verdict = _verdict(p99 <= goals["p99_at_50_ms"]) if label == "50%" else ""
            add(f"B2 at {label} of max: rate, req/s", *_range(g["rate"]))
            add(
                f"B2 at {label}: p50 / p95 / p99, ms",
                f"{g['p50_ms']['median']} / {g['p95_ms']['median']} / {p99}",
                f"p99 {g['p99_ms']['min']}-{g['p99_ms']['max']}",
                goal,
                verdict,
            )
        for label in ("50%", "80%"):
            runs = latency[label]["runs"]
            if not all("background" in r for r in runs):
                continue  # results of a bench that did not record what ran beside a run
            add(
                f"B2 at {label}: p99 of each rep, ms (* attribute table vacuumed)",
                " / ".join(_p99_marked(r) for r in runs),
            )
            add(
                f"B2 at {label}: mean WAL sync, CPU stolen, each rep",
                " / ".join(_sync_and_steal(r) for r in runs),
            )
        add(
            "load tool CPU share, % (open-loop client)",
            *_range(latency["50%"]["tool_cpu_share"], 1, 100),
        )
    widgets = groups.get("widgets")
    if widgets:
        add("B0 (widget group), req/s", *_range(widgets["B0"]["rps"]))
        add("widget decision, 10 active, req/s", *_range(widgets["W10"]["rps"]))
        add("widget decision, 100 active, req/s", *_range(widgets["W100"]["rps"]))
        add("W10/B0", *_range(widgets["ratios"]["W10/B0"], 3))
        w = widgets["ratios"]["W100/B0"]
        add(
            "W100/B0",
            *_range(w, 3),
            f">= {goals['W100/B0']}",
            _verdict(w["median"] >= goals["W100/B0"]),
        )
        add(
            "W100 requests per CPU-second (server + db)",
            *_range(widgets["W100"]["requests_per_cpu_second"]),
        )
        for kind in ("W10", "W100"):
            add(f"{kind} CPU per request, app / db, ms", _cpu_per_request(widgets[kind]["runs"]))
        for kind in ("W10", "W100"):
            lat = [r["latency_us"]["p50"] / 1000 for r in widgets[kind]["runs"]]
            add(f"{kind} p50 latency at saturation (wrk), ms", _middle(lat, "{:.1f}")[0])
    granian = groups.get("granian")
    if granian and "ratios" in granian:
        kinds = [k for k in ("B0", "B1", "B2", "granian B0", "granian B2") if k in granian]
        for kind in kinds:
            server = (
                "" if kind.startswith("granian") or "granian B0" not in granian else "gunicorn "
            )
            add(f"{server}{kind} (server comparison), req/s", *_range(granian[kind]["rps"]))
        for name, ratio in granian["ratios"].items():
            add(name, *_range(ratio, 3))
    targeting = groups.get("targeting")
    if targeting:
        for name, t in targeting.items():
            app, hand = t["warm_ms"]["app"], t["warm_ms"]["hand"]
            ratio = t["warm_ratio_app_to_hand"]
            ok = ratio <= goals["targeting_ratio"] and app["median"] <= goals["targeting_warm_ms"]
            add(
                f"count {name} ({t['matches']:,}), warm app / hand, ms",
                f"{app['median']:.1f} / {hand['median']:.1f}",
                f"x{ratio}",
                f"<= x{goals['targeting_ratio']}, < {goals['targeting_warm_ms']:g} ms",
                _verdict(ok),
            )
            add(
                f"count {name}, cold app / hand, ms",
                f"{t['cold_ms']['app']['median']:.1f} / {t['cold_ms']['hand']['median']:.1f}",
                f"x{t['cold_ratio_app_to_hand']}",
            )
    after = results.get("targeting_after_writes")
    state = results.get("attribute_table_after_writes")
    if state:
        add(
            "after the load runs: autovacuum runs / dead rows / heap fetches",
            f"{state['autovacuum_runs']} / {state['dead_rows']:,} / "
            f"{state['seed_example_heap_fetches']:,}",
        )
    if after:
        for name, t in after.items():
            add(
                f"count {name}, warm after the load runs, app / hand, ms",
                f"{t['app']['median']:.1f} / {t['hand']['median']:.1f}",
            )
    lookup = groups.get("lookup")
    if lookup:
        for kind in ("user_id", "email"):
            p50, p95 = lookup[kind]["p50_ms"], lookup[kind]["p95_ms"]
            add(
                f"lookup by {kind}: p50 / p95, ms",
                f"{p50['median']:.2f} / {p95['median']:.2f}",
                f"p95 {p95['min']:.2f}-{p95['max']:.2f}",
                f"<= {goals['lookup_ms']:g} ms",
                _verdict(p95["median"] <= goals["lookup_ms"]),
            )
    inprocess = groups.get("inprocess")
    if inprocess and "failed" in inprocess:
        add("in-process group", "failed", "", "", inprocess["failed"])
    elif inprocess:
        for kind, k in inprocess["kinds"].items():
            add(
                f"in-process, one at a time: {kind} CPU app / db, wall, ms",
                f"{k['app_cpu_ms']['median']:.2f} / {k['db_cpu_ms']['median']:.2f}, "
                f"{k['wall_ms']['median']:.2f}",
                f"app {k['app_cpu_ms']['min']:.2f}-{k['app_cpu_ms']['max']:.2f}",
            )
        for name, ratio in inprocess["ratios"].items():
            add(f"{name} by in-process CPU (app + db)", *_range(ratio, 3))
        for kind, k in inprocess["kinds"].items():
            if kind != "B0":
                add(f"{kind} app CPU by layer, % (cProfile)", layers_text(k["app_cpu_by_layer"]))
    counters = results.get("counters", [])
    if counters:
        totals = {
            key: sum(c.get(key, 0) for c in counters)
            for key in (
                "lost_keys",
                "duplicate_profiles",
                "deadlocks",
                "server_errors",
                "client_errors",
                "failed_transactions",
            )
        }
        site = results.get("site_counters", {})
        total = sum(totals.values()) + site.get("duplicate_user_ids", 0)
        add(
            "correctness: lost / dup / deadlocks / 5xx / 4xx / failed tx",
            f"{totals['lost_keys']} / {totals['duplicate_profiles']} / {totals['deadlocks']} / "
            f"{totals['server_errors']} / {totals['client_errors']} / "
            f"{totals['failed_transactions']}",
            f"{len(counters)} runs",
            "all 0",
            _verdict(total == 0),
        )
        if site:
            # Informational: pgbench (B3) replays fixed catalogue increments, so the
            # catalogue's profile counts drift by design once B3 has run.
            add(
                "site: dup user ids / catalogue keys off (B3) / orphans",
                f"{site['duplicate_user_ids']} / {site['catalogue_keys_miscounted']} / "
                f"{site['anonymous_profiles_without_device']}",
            )
    load_runs = _load_runs(groups)
    stolen = [
        100 * r["cpu"]["machine_stolen_share"]
        for r in load_runs
        if "machine_stolen_share" in r["cpu"]
    ]
    if stolen:
        add(
            "CPU stolen by the virtual machine's host during load runs, %",
            *_middle(stolen, "{:.1f}"),
        )
    background = [r["background"] for r in load_runs if "background" in r]
    if background:
        add(
            "load runs beside a vacuum of the attribute table / a checkpoint",
            f"{sum(b['attribute_table_vacuumed'] for b in background)} / "
            f"{sum((b['checkpoints'] or 0) > 0 for b in background)}",
            f"{len(background)} runs",
        )
    load = results.get("load")
    if load:
        add(
            f"data load: {load['profiles']:,} profiles, {load['attribute_values']:,} values, s",
            f"{load['seconds']['total']}",
            "reused" if load.get("reused") else "",
        )
    server = results.get("postgres")
    if server:
        shown = server["settings"]
        add(
            "PostgreSQL: shared buffers / WAL between checkpoints",
            f"{shown['shared_buffers']} / {shown['max_wal_size']}",
            "bench's own server" if server["own_cluster"] else "--admin-url",
        )
    widths = [max(len(r[i]) for r in rows) if rows else 0 for i in range(5)]
    header = ("figure", "median", "min-max", "goal", "")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths).rstrip())
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return lines
