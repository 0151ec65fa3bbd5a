"""The benchmark figure: efficiency by size, loss against time, and wall times side by side."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import default_run_seconds

GIB = 1024**3


def _efficiency(ax, results: dict) -> None:
    eff = results.get("efficiency")
    ax.set_title("engine efficiency (FLOP/s ÷ conv peak)")
    if not eff:
        ax.text(0.5, 0.5, "not run", ha="center", transform=ax.transAxes)
        return
    rows = eff["rows"]
    labels = [f"{r['size']} px\n{r['precision']}" for r in rows]
    values = [100 * r["efficiency"] for r in rows]
    bars = ax.bar(labels, values, color="tab:blue")
    for bar, r in zip(bars, rows, strict=True):
        gflops = r["flops"] / r["best_s"] / 1e9
        ax.annotate(
            f"{gflops:.0f} GFLOP/s",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_ylabel("% of conv peak")
    ax.set_ylim(0, max(100, *values) * 1.1)


def _traces(ax, results: dict) -> None:
    quality = results.get("quality", {})
    ref = quality.get("reference", {})
    ax.set_title("loss ÷ reference loss against time")
    if ref.get("status") != "ok":
        ax.text(0.5, 0.5, "not run", ha="center", transform=ax.transAxes)
        return
    best = ref["best_loss"]
    for run in [ref, *quality.get("candidates", [])]:
        if run.get("trace"):
            t, loss = zip(*run["trace"], strict=True)
            ax.plot(t, [v / best for v in loss], label=f"painterly {run['name']}")
    for peer in results.get("peers", []):
        if peer.get("status") == "ok":
            t, loss = zip(*peer["trace"], strict=True)
            own = peer["best_loss"]
            ax.plot(t, [v / own for v in loss], "--", label=f"{peer['name']} (own loss)")
    ax.axhline(1.05, color="k", lw=0.8, ls=":")
    # Log time: the peers' default runs can be ten times painterly's, or more.
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(0.9, 100)
    ax.set_xlabel("seconds since launch")
    ax.legend(fontsize=6, loc="upper right", framealpha=0.8)


def _walls(ax, results: dict) -> None:
    ax.set_title("wall time (peak RSS)")
    labels, values, notes, colours = [], [], [], []
    quality = results.get("quality", {})
    for run in [quality.get("reference", {}), *quality.get("candidates", [])]:
        if run.get("time_to_quality_s") is not None:
            labels.append(f"painterly\n{run['name']}")
            values.append(run["time_to_quality_s"])
            notes.append(run.get("peak_rss_bytes"))
            colours.append("tab:blue")
    for peer in results.get("peers", []):
        if peer.get("status") == "ok":
            estimated = " (estimated)" if peer.get("default_run_estimated") else ""
            labels.append(f"{peer['name']}\ndefault run{estimated}")
            values.append(default_run_seconds(peer))
            notes.append(peer.get("peak_rss_bytes"))
            colours.append("tab:orange")
    if not values:
        ax.text(0.5, 0.5, "not run", ha="center", transform=ax.transAxes)
        return
    bars = ax.barh(labels, values, color=colours)
    for bar, rss in zip(bars, notes, strict=True):
        text = f" {bar.get_width():.0f} s" + (f" ({rss / GIB:.1f} GiB)" if rss else "")
        ax.annotate(
            text, (bar.get_width(), bar.get_y() + bar.get_height() / 2), va="center", fontsize=7
        )
    ax.set_xlabel("seconds (painterly: to 1.05·L*; peers: default run)")
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlim(0, max(values) * 1.35)


def write_plot(results: dict, path: Path) -> None:
    """Draw the three panels into a small PNG at ``path`` (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    _efficiency(axes[0], results)
    _traces(axes[1], results)
    _walls(axes[2], results)
    fig.suptitle(
        f"painterly benchmark ({results['mode']} mode, {results['settings']['size']} px, "
        f"{results['machine']['cores']} cores)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80, format="png")  # the path may be a temporary name
    plt.close(fig)
