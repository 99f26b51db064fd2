from lrcurve import fit, read_runs
from lrcurve.laws import make_law
from lrcurve.plotting import plot_fit, plt, save_figure, set_title


def test_long_titles_are_wrapped_onto_lines_that_fit_the_figure():
    fig, ax = plt.subplots()
    title = "multipower law: " + make_law("multipower").formula
    set_title(ax, title, width=95)
    lines = ax.get_title().split("\n")
    assert len(lines) >= 2 and all(len(line) <= 95 for line in lines)
    assert " ".join(lines) == title
    plt.close(fig)


def test_a_multipower_fit_plot_is_written(samples, tmp_path):
    runs = [
        read_runs(samples / f"{name}.csv", warmup_steps=2160)[0] for name in ("constant", "cosine")
    ]
    fitted = fit(runs, make_law("multipower"))
    path = tmp_path / "fit.png"
    save_figure(plot_fit(fitted), path)
    assert path.stat().st_size > 1000


def test_plots_draw_on_given_axes_and_return_their_figure(samples):
    runs = [read_runs(samples / "constant.csv", warmup_steps=2160)[0]]
    fitted = fit(runs)
    fig, axes = plt.subplots(2, 1)
    assert plot_fit(fitted, ax=axes) is fig
    assert axes[0].lines and axes[1].lines
    plt.close(fig)


def test_importing_plotting_leaves_the_backend_to_the_caller():
    import subprocess
    import sys

    code = (
        "import matplotlib; before = matplotlib.rcParams._get_backend_or_none(); "
        "import lrcurve.plotting; assert matplotlib.rcParams._get_backend_or_none() == before"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_prediction_plot_keeps_the_band_and_the_measured_points_in_view(samples):
    from dataclasses import replace

    from lrcurve.decision_plots import overlay_measured
    from lrcurve.plotting import plot_prediction
    from lrcurve.schedules import make_schedule

    run = read_runs(samples / "constant.csv", warmup_steps=2160)[0]
    fitted = fit([run], backtest=False)
    wsd = make_schedule("wsd", steps=run.last_step, peak=run.peak_lr, warmup=2160, decay=0.3)
    pred = fitted.predict(wsd, run.last_step, level=0.9)
    fig = plot_prediction(fitted, [pred])
    tail = slice(pred.steps.size // 10, None)
    low, high = fig.axes[0].get_ylim()
    assert low <= pred.lower[tail].min() and high >= pred.upper[tail].max()
    below = replace(run, loss=run.loss - 0.5, label="below")  # under everything drawn
    overlay_measured(fig, [below])
    assert fig.axes[0].get_ylim()[0] <= below.loss[below.loss.size // 10 :].min()
    assert fig.axes[0].get_ylim()[1] == high  # widened, not narrowed
    plt.close(fig)


def test_a_fit_of_several_sizes_labels_each_run_with_its_size_and_the_prediction_its_target():
    import numpy as np

    from lrcurve.laws.momentum_size import MomentumSizeLaw
    from lrcurve.plotting import plot_prediction
    from lrcurve.schedules import make_schedule
    from tests.conftest import size_runs

    truth = np.array([1.8, 0.9, 0.45, 0.5, 0.3, 0.2, 0.25, 0.999, 1.0, 1.0, 100.0])
    law = MomentumSizeLaw()
    runs = size_runs(law, truth, (25e6, 100e6, 400e6), [("constant", 3e-4), ("wsd", 3e-4)])
    fitted = fit(runs, law, backtest=False)
    fig = plot_fit(fitted)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert {"constant-0.0003-2.5e+07 (25M)", "wsd-0.0003-4e+08 (400M)"} <= set(labels)
    plt.close(fig)
    schedule = make_schedule("wsd", steps=6000, peak=3e-4, warmup=200, decay=0.2)
    fig = plot_prediction(fitted, [fitted.predict(schedule, model_size=1.6e9)], model_size=1.6e9)
    assert "at 1.6B parameters" in fig.axes[0].get_title()
    plt.close(fig)


def test_a_long_legend_added_again_stays_beside_the_axes_and_within_the_figure():
    """30 fitted runs and measured points added after: the second legend (overlay_measured's)
    was drawn inside the axes over the curves' ends, taller than the figure."""
    from lrcurve.plot_style import add_legend

    fig, ax = plt.subplots(figsize=(9, 5))
    for i in range(30):
        ax.plot([0, 1], [i, i], label=f"wsd 20% linear 37.5k lr 5e-4 (run {i}) (124M)")
    add_legend(ax)
    widened = fig.get_size_inches()[0]
    ax.plot([0, 1], [0, 1], "o", label="measured: wsd 20% linear 37.5k lr 5e-4")
    add_legend(ax, fontsize=7)
    fig.canvas.draw()
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= axes.x1 and legend.height <= fig.bbox.height
    assert fig.get_size_inches()[0] == widened  # widened once, not again
    plt.close(fig)
