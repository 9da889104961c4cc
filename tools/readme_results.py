"""The generated blocks of README.md and docs/results.md, written from run files (never typed in).

    python tools/readme_results.py                     # = make docs: every block with a run
    python tools/readme_results.py --outputs DIR       # the runs are under DIR, not outputs/
    python tools/readme_results.py --print flickr8k    # print one block (full tables)

A block is the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`. Each NAME has one
source under the outputs folder (`SOURCES`): `results` a `make reproduce` run (`default`),
`flickr8k` a `make reproduce-flickr8k` run, `tweets` and `fusion` the metrics.json of `make
evaluate-tweets` and `make evaluate-fusion`. README.md gets the real-data studies' compact
tables (and the default run's; the seed study, on the embedded data, only in docs/), and
docs/results.md every block's full tables (from the comparison tables of
`hashtag_kit.reporting.comparison`; the run's `05_comparison/report.html` has them all with
protocol notes). A block whose source is absent is left as it is.

Repository tooling, not part of the installed package.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from hashtag_kit.evaluation import seed_study as fusion_study
from hashtag_kit.files import BAD_JSON, write_text
from hashtag_kit.reporting.comparison import (
    TABLE_TITLES,
    THIS_RUN,
    _label,
    _ranking_value,
    build_tables,
    format_cell,
    load_published,
)
from hashtag_kit.reporting.html import collect_environment
from hashtag_kit.run import ATTENTION, CAPTION, COMPARISON, ENCODER_DECODER, PREPROCESS, RunDir

REPO = Path(__file__).resolve().parent.parent
GENERATOR = "python tools/readme_results.py"
#: block name -> its source under the outputs folder (a run directory or a metrics.json)
SOURCES = {
    "results": "default",
    "flickr8k": "flickr8k",
    "tweets": "tweets-eval/evaluate_tweets/metrics.json",
    "fusion": "fusion-study/evaluate_fusion/metrics.json",
}
#: the files holding the blocks: whether each gets the compact versions, and which blocks
FILES = {
    "README.md": (True, ("results", "flickr8k", "tweets")),
    "docs/results.md": (False, tuple(SOURCES)),
}


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of the block `name`."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


START, END = markers("results")
REAL_START, REAL_END = markers("flickr8k")

#: which columns of each comparison table the README shows (those present are kept)
README_COLUMNS = {
    "original": [
        "model",
        "source",
        "dataset",
        "K",
        "accuracy",
        "recall",
        "precision",
        "trainable_params",
        "ms_per_step",
    ],
    "design": ["model", "source", "dataset", "fusion", "personalisation", "modality", "test_posts"],
    "baselines": ["model", "source", "dataset", "family", "modality"],
    "captions": ["model", "source", "task", "dataset", "bleu1", "bleu2", "bleu3", "bleu4"]
    + ["meteor", "rouge_l", "cider"],
}
#: metric columns (label prefixes) added to the design and baselines tables
RANKING_PREFIXES = ("Hit@", "P@", "R@", "F1@")


def _short_source(source) -> str:
    """'Sahliya et al. 2024 (original project report, ...)' -> 'Sahliya et al. 2024'."""
    if source is None or (isinstance(source, float) and pd.isna(source)):
        return ""
    return str(source).split(" (")[0]


def markdown_table(df: pd.DataFrame, columns: list[str] | None = None) -> str:
    """A DataFrame as a GitHub markdown table (cells via `format_cell`, pipes escaped)."""
    columns = [c for c in (columns or list(df.columns)) if c in df.columns]
    if not columns:
        return "_(no columns)_"

    def cell(v, c):
        text = _short_source(v) if c == "source" else format_cell(v, c)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(cell(row[c], c) for c in columns) + " |")
    return "\n".join(lines)


def _columns(name: str, df: pd.DataFrame) -> list[str]:
    cols = list(README_COLUMNS.get(name, df.columns))
    if name in ("design", "baselines"):
        cols += [c for c in df.columns if c.startswith(RANKING_PREFIXES)]
    return cols


def _missing_notes(df: pd.DataFrame) -> list[str]:
    if "note" not in df.columns or "model" not in df.columns:
        return []
    rows = df[df["model"].astype(str).str.startswith("(") & (df["source"] == THIS_RUN)]
    return [str(n) for n in rows["note"] if n]


def _settings(env: dict, rd: RunDir) -> list[str]:
    run = env["run"]
    encs = dict(run.get("encoders") or {})
    for st in env["stages"].values():
        for kind, e in (st.get("encoders") or {}).items():
            encs.setdefault(kind, e)
    enc_text = (
        ", ".join(
            f"{k} = `{e.get('name', e) if isinstance(e, Mapping) else e}`" for k, e in encs.items()
        )
        or "not recorded"
    )
    host = env["report_host"]
    lines = [
        f"- run directory: `{rd.path.name}`; dataset: `{run.get('dataset')}`; "
        f"run mode: `{run.get('run_mode')}`; seed: `{run.get('seed')}`",
        f"- encoders: {enc_text}",
        f"- machine: {host.get('cpu')} ({host.get('cpu_count')} logical cores), "
        f"GPU: {host.get('gpu')}; Python {host.get('python')}, "
        + ", ".join(f"{k} {v}" for k, v in (host.get("packages") or {}).items() if k in _PKGS),
    ]
    return [*lines, _wall_time(env)]


def _wall_time(env: dict) -> str:
    """The notebooks' measured wall times (the run's timings.json), in total and per stage."""
    timings = {k: v for k, v in env["timings"].items() if isinstance(v, (int, float))}
    if not timings:
        return "- wall time: not recorded (no timings.json; `make reproduce` writes it)"
    total = env["total_seconds"]
    per = ", ".join(f"{k[:2]} {v:.0f} s" for k, v in sorted(timings.items()))
    # the CPU the stages recorded (runs before 2026-12-04 recorded none): figures and times
    # depend on it (oneDNN's kernels on AVX-512 / AMX round differently and run faster)
    cpus = {(st.get("environment") or {}).get("cpu") for st in env["stages"].values()}
    on = f" on {cpus.pop()}" if len(cpus) == 1 and None not in cpus else ""
    return f"- measured wall time of the notebooks{on}: **{total / 60:.1f} min** in total ({per})"


def _cache_use(pre: dict) -> str:
    """What notebook 01 took from the feature cache and what it computed, per modality."""
    uses = []
    for kind, f in (pre.get("features") or {}).items():
        if not isinstance(f, dict) or "cache" not in f:
            continue  # the features' "report", not a modality
        cache = f["cache"]
        counts = [
            f"{cache[n]:,} {n}" for n in ("reused", "computed") if isinstance(cache.get(n), int)
        ]
        uses.append(f"{kind} " + (", ".join(counts) or "not recorded"))
    return "- notebook 01's feature cache: " + ("; ".join(uses) or "not recorded")


_PKGS = ("tensorflow-cpu", "tensorflow", "keras", "numpy")


#: ranking metrics (and their K) of a real-data evaluation's README table
EVALUATION_CELLS = (
    ("hit_rate", (1, 5, 10)),
    ("precision", (5,)),
    ("recall", (5,)),
    ("f1", (1, 5, 10)),
)


def _shown(path: Path) -> str:
    """`path` as the README shows it: relative to the repository when inside it."""
    try:
        return Path(path).resolve().relative_to(REPO.resolve()).as_posix()
    except ValueError:
        return str(path)


def render_evaluation(metrics_path: str | Path, compact: bool = False) -> list[str]:
    """Markdown lines for a real-data evaluation's metrics.json (`python -m hashtag_kit
    evaluate ...`): its protocol in one line and Hit/P/R/F1 at K = 1, 5, 10 per model."""
    path = Path(metrics_path)
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
        models = m["models"]
        if m.get("stage") == fusion_study.STAGE:
            return render_fusion_study(m, path, compact)
    except (OSError, *BAD_JSON, KeyError) as e:
        raise ValueError(f"{path}: not an evaluation's metrics.json ({e})") from None
    proto = m.get("extra", {}).get("protocol", {})
    sizes = ", ".join(
        f"{proto[f'n_{part}']:,} {part}"
        for part in ("train", "val", "test")
        if f"n_{part}" in proto
    )
    out = [
        f"#### Real data: {m.get('dataset', path.parent.name)} ({m.get('stage', '')})",
        "",
        f"From `{_shown(path)}` (run mode `{m.get('run_mode')}`, seed {m.get('seed')}). Split: "
        f"{proto.get('split', m.get('split'))}; {sizes} posts; {proto.get('n_tags', '?')} tags "
        f"used at least {proto.get('min_tag_freq', '?')} times in training. Hashtags are removed "
        "from the text the models read.",
        "",
    ]
    cells = [(metric, int(k)) for metric, ks in EVALUATION_CELLS for k in ks]
    rows = [
        {"model": name, **{_label(m, k): _ranking_value(entry, m, k) for m, k in cells}}
        for name, entry in models.items()
    ]
    df = pd.DataFrame(rows)
    out.append(markdown_table(df, list(df.columns)))
    return out


def render_fusion_study(m: dict, path: Path, compact: bool = False) -> list[str]:
    """Markdown lines for `python -m hashtag_kit evaluate fusion`'s metrics.json: F1@5 of each
    fusion on each test subset (mean ± sd over the seeds, then the value of every seed), and
    (unless `compact`) for each pair of fusions the seeds in which the first is higher."""
    proto, summary, pairs = m["extra"]["protocol"], m["extra"]["summary"], m["extra"]["pairs"]
    seeds = ", ".join(map(str, proto["seeds"]))
    out = [
        f"#### Seed study: fusions of notebook 02 ({m.get('stage', '')})",
        "",
        f"From `{_shown(path)}`: notebook 02's main model (its settings, "
        f"run `{proto['source_run']}`, "
        f"{proto['n_train']:,} train / {proto['n_test']:,} test posts) retrained with each "
        f"fusion for seeds {seeds}"
        + (
            " (`image-only`: the same model trained on the image alone, the reference for the "
            "text-removed posts)"
            if fusion_study.REFERENCE in proto["fusions"]
            else ""
        )
        + ". F1@5, mean ± sd over the seeds, then per seed.",
        "",
    ]
    rows = []
    for fusion in proto["fusions"]:
        row = {"fusion": fusion}
        for subset, by_fusion in summary.items():
            c = by_fusion[fusion]["f1@5"]
            values = " ".join(f"{v:.3f}" for v in c["values"])
            row[subset] = f"{c['mean']:.3f} ± {c['sd']:.3f} ({values})"
        rows.append(row)
    df = pd.DataFrame(rows)
    out.append(markdown_table(df, list(df.columns)))
    if compact:
        return out
    rows = [
        {
            "pair": name,
            **{
                subset: f"{by[name]['ahead']} of {by[name]['n_seeds']} "
                f"({by[name]['mean_difference']:+.3f})"
                for subset, by in pairs.items()
            },
        }
        for name in next(iter(pairs.values()))
    ]
    df = pd.DataFrame(rows)
    out += [
        "",
        "Seeds in which the first fusion has the higher F1@5 (mean difference):",
        "",
        markdown_table(df, list(df.columns)),
    ]
    return out


def _generated(rd: RunDir, compact: bool, more: str) -> str:
    where = "[docs/results.md](docs/results.md)" if compact else more
    return (
        f"_Generated by `{GENERATOR}` from the metrics.json files of run `{rd.path.name}` on "
        f"{time.strftime('%Y-%m-%d')}; do not edit by hand. "
        + (f"Every table: {where}._" if compact else f"{more}._")
    )


def render_markdown(
    run_dir: str | Path | RunDir,
    k_original: int = 5,
    k_table: int = 7,
    report_link: str | None = None,
    compact: bool = False,
) -> str:
    """The results block (without the markers) for a run: its settings and the comparison
    tables; `compact`: one line of settings and notebook 02's models on all test posts."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    tables = build_tables(rd, k_original=k_original, k_table=k_table)
    env = collect_environment(rd)
    report = report_link or str(rd.path / COMPARISON / "report.html")
    more = f"Full tables with protocol notes, plots and environment: [`report.html`]({report})"
    out = [_generated(rd, compact, more), ""]
    if compact:
        design = tables["design"]
        keep = design[(design["source"] == THIS_RUN) & (design["test_posts"] == "all")]
        keep = keep[~keep["model"].astype(str).str.startswith("(")]
        columns = ["model", "fusion", "personalisation", "modality"]
        columns += [c for c in design.columns if c.startswith(RANKING_PREFIXES)]
        settings = _settings(env, rd)  # compact: the run, and its wall time, in one line
        one_line = f"{settings[0]}; {settings[-1].removeprefix('- ')}"
        out += [one_line, "", markdown_table(keep, columns)]
        return "\n".join(out) + "\n"
    out += [
        *_settings(env, rd),
        "",
        "Rows whose source is not “this run” are the published figures, on the papers' own "
        "datasets and encoders; they are context, not like-for-like targets.",
    ]
    for name in ("original", "design", "baselines", "captions"):
        df = tables[name]
        out += ["", f"#### {TABLE_TITLES[name]}", ""]
        if name == "original":
            out += [
                f"Our figures at K = {k_original} (the original report does not state K); "
                "accuracy = Hit@K as AMNN's code computes it.",
                "",
            ]
        keep = df[~(df["model"].astype(str).str.startswith("(") & (df["source"] == THIS_RUN))]
        out.append(markdown_table(keep, _columns(name, df)))
        for note in _missing_notes(df):
            out.append(f"\n> {note}")
    return "\n".join(out) + "\n"


def replace_section(readme_path: Path, start: str, end: str, body: str) -> bool:
    """Replace the text between the markers `start` and `end`; True when the file changed."""
    text = readme_path.read_text(encoding="utf-8")
    i, j = text.find(start), text.find(end)
    if i < 0 or j < 0 or j < i:
        raise ValueError(
            f"{readme_path}: needs the markers {start} and {end} (in that order) around the "
            "generated section"
        )
    new = text[: i + len(start)] + "\n" + body + text[j:]
    if new == text:
        return False
    write_text(readme_path, new)
    return True


# -- the "Real photos: Flickr8k" section ---------------------------------------------------------

CAPTION_METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rouge_l", "cider")


def _stage_metrics(rd: RunDir, stage: str) -> dict:
    path = rd.path / stage / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _at(ranking: Mapping | None, metric: str, k: int):
    return None if ranking is None else ranking.get(metric, {}).get(str(k))


def _grid_of(metrics: dict) -> str:
    """The image grid a stage's models attended over, as its metrics.json names the encoder."""
    image = (metrics.get("encoders") or {}).get("image") or {}
    shape = image.get("grid_shape")
    if not shape:
        return "image grid features of the run's encoder"
    return f"the {'x'.join(map(str, shape))} grid of `{image.get('name', '?')}`"


def render_real_photos(run_dir: str | Path | RunDir, k: int = 5, compact: bool = False) -> str:
    """The "Real photos: Flickr8k" block for a Flickr8k run (`make reproduce-flickr8k`):
    caption metrics beside the published Flickr8k rows, hashtags from photos, and the image +
    text fusions with the text removed, each table with its split, encoder and protocol said
    once; `compact`: the run's wall time, the split and each table at K alone, its protocol
    said in one line."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    env = collect_environment(rd)
    meta = rd.meta()
    pre, ed, att, cap = (
        _stage_metrics(rd, s) for s in (PREPROCESS, ENCODER_DECODER, ATTENTION, CAPTION)
    )
    part = meta.get("official_test_part")
    split = (
        "the dev list (the official split's test photos are withheld in this copy; dev is also "
        "the early-stopping set)"
        if part == "val"
        else "the official test list"
    )
    sizes = (pre.get("splits") or {}).get("official", {})
    stats = pre.get("stats", {})
    cap_extra = cap.get("extra") or {}
    training = cap_extra.get("caption_training", {})
    split_line = (
        f"- split: Flickr8k's official lists, {sizes.get('train', '?'):,} training photos; every "
        f"figure below is on {split}: {sizes.get('test', '?'):,} photos. `python -m hashtag_kit "
        "evaluate flickr8k --split test` scores the finished run on the test photos where "
        "they are present."
    )
    out = [
        _generated(rd, compact, "More in the run's `05_comparison/report.html`"),
        "",
        *(  # compact: the wall time and the cache's use in one line
            [f"{_wall_time(env)}; {_cache_use(pre).removeprefix('- ')}"]
            if compact
            else [*_settings(env, rd), _cache_use(pre)]
        ),
        split_line,
        f"- tags (Flickr8k-tags, `hashtag_kit.data.flickr8k`): the content words that at least 2 "
        f"of captions #1-#4 use; a post's text is caption #0. {stats.get('n_hashtags', '?')} "
        f"tags used on at least {(meta.get('preprocess') or {}).get('min_tag_freq', '?')} photos, "
        f"{stats.get('tags_per_post_mean', float('nan')):.1f} per photo; the most used: "
        + ", ".join(f"#{t} {c:,}" for t, c in list(rd.load_vocab()["counts"].items())[:10])
        + ".",
    ]
    if compact:
        out = out[:-1]
    # captions
    published = load_published()
    pub = published[published["dataset"].astype(str).str.lower() == "flickr8k"]
    rows = []
    for name, c in (cap.get("captions") or {}).items():
        if c.get("task") != "caption":
            continue
        rows.append({"model": name, "source": THIS_RUN, **{m: c.get(m) for m in CAPTION_METRICS}})
    for (source, model), grp in pub.groupby(["source", "model"], sort=False):
        vals = dict(zip(grp["metric"], grp["value"], strict=True))
        rows.append({"model": model, "source": source, **{m: vals.get(m) for m in CAPTION_METRICS}})
    sizes_text = ", ".join(f"{key} {training[key]}" for key in training) or "not recorded"
    decoding = [
        f"{key} {cap_extra[key]}" for key in ("beam_width", "length_penalty") if key in cap_extra
    ]
    if decoding:  # the beam's length penalty was chosen on dev (docs/results.md says so)
        sizes_text += "; decoding: " + ", ".join(decoding)
    out += _table(
        "Captions: Show-Attend-Tell (soft attention) and the merge model beside Xu et al. 2015",
        f"Ours: {_grid_of(cap)} (Xu et al.: VGG-19 conv5's 14x14x512, on the test split), "
        f"pycocoevalcap scorers, 5 references per photo. Settings: {sizes_text}.",
        rows,
        compact,
    )
    # hashtags from photos
    rows = []
    for source, metrics in (("03", att), ("04", cap), ("02", ed)):
        for name, e in (metrics.get("models") or {}).items():
            variant = e.get("variant") or {}
            if source == "02" and variant.get("modality") != "image":
                continue
            if source == "03" and variant.get("modality") not in ("image", "none"):
                continue
            r = e.get("ranking")
            rows.append(
                {
                    "model": name,
                    "notebook": source,
                    **{
                        f"{lab}@{kk}": _at(r, m, kk)
                        for m, lab in METRIC_LBL
                        for kk in ((k,) if compact else (1, k))
                    },
                }
            )
    about = (
        "Direct image -> hashtag models (notebooks 02, 03), the Flickr8k hashtag paper's method "
        "(a generated caption, stopwords removed; notebook 04) and the same from human caption "
        "#0 (a reference point), zero-shot ImageNet labels and popularity."
    )
    if compact:  # a row whose every figure equals an earlier one's is named beside it
        rows = _merge_equal_rows(rows)
    ks = f"K = {k}" if compact else f"K = 1 and {k}"
    out += _table(f"Hashtags from the photo alone ({ks})", about, rows, compact)
    # image + text
    extra = ed.get("extra") or {}
    rows = []
    for name, e in (ed.get("models") or {}).items():
        variant = e.get("variant") or {}
        if not variant.get("trained") and name != "popularity":
            continue
        rows.append(
            {
                "model": name,
                f"F1@{k} image + text": _at(e.get("ranking"), "f1", k),
                f"F1@{k} text removed": _at((extra.get("without_text") or {}).get(name), "f1", k),
                f"F1@{k} image removed": _at((extra.get("without_image") or {}).get(name), "f1", k),
            }
        )
    out += _table(
        "A real image + text task: fusions, and each modality removed",
        "Text = caption #0, tags from captions #1-#4 only (no model can copy its answer from its "
        "input). Notebook 02's encoder-decoder with each fusion; `text removed` / `image removed`"
        " score the same trained model with that input missing at test time.",
        rows,
        compact,
    )
    return "\n".join(out) + "\n"


def _table(title: str, about: str, rows: list[dict], compact: bool) -> list[str]:
    """One table of a block with its title and what it shows: a heading and a paragraph, or
    when `compact` (the README) both in one bold-led line."""
    lead = [f"**{title}**. {about}"] if compact else [f"#### {title}", "", about]
    return ["", *lead, "", markdown_table(pd.DataFrame(rows))]


METRIC_LBL = (("hit_rate", "Hit"), ("precision", "P"), ("recall", "R"), ("f1", "F1"))


def _merge_equal_rows(rows: list[dict]) -> list[dict]:
    """Rows (dicts whose first two keys name the model and notebook) with the figures of an
    earlier row's folded into it, named `first = second` (e.g. the user's top tags, which
    fall back to popularity on a dataset without users).

    Example:
        >>> _merge_equal_rows([{"model": "a", "nb": "03", "F1": 0.1},
        ...                    {"model": "b", "nb": "03", "F1": 0.1}])
        [{'model': 'a = b', 'nb': '03', 'F1': 0.1}]
    """
    kept: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(list(row.values())[1:])
        if key in kept:
            kept[key]["model"] += f" = {row['model']}"
        else:
            kept[key] = dict(row)
    return list(kept.values())


def render_block(name: str, source: Path, compact: bool, link_base: Path) -> str:
    """The text of block `name` (without markers) from its source; links relative to
    `link_base`, the folder of the file that holds the block."""
    if name == "results":
        report = source / COMPARISON / "report.html"
        try:
            link = os.path.relpath(os.path.abspath(report), os.path.abspath(link_base))
        except ValueError:  # another drive on Windows
            link = str(report)
        return render_markdown(source, report_link=link, compact=compact)
    if name == "flickr8k":
        return render_real_photos(source, compact=compact)
    lines = render_evaluation(source, compact)
    return "\n".join(lines[2:] if compact else lines) + "\n"  # compact: without the heading


def update_docs(root: str | Path = REPO, outputs: str | Path | None = None) -> dict[str, str]:
    """Rewrite every block of `FILES` (under `root`) whose source is under `outputs` (default
    `root/outputs`); the others are kept. Returns {"FILE NAME": "updated" | "unchanged" |
    "kept (no SOURCE)"}. Raises ValueError naming the file when its markers are missing."""
    root = Path(root)
    outputs = Path(outputs) if outputs is not None else root / "outputs"
    done = {}
    for file, (compact, names) in FILES.items():
        path = root / file
        for name in names:
            source = outputs / SOURCES[name]
            if not source.exists():
                done[f"{file} {name}"] = f"kept (no {source})"
                continue
            body = render_block(name, source, compact, path.parent)
            changed = replace_section(path, *markers(name), body)
            done[f"{file} {name}"] = "updated" if changed else "unchanged"
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=GENERATOR, description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=str(REPO), help="the checkout holding README.md and docs/")
    ap.add_argument("--outputs", default=None, help="the runs' folder (default: ROOT/outputs)")
    ap.add_argument("--print", choices=list(SOURCES), help="print this block instead")
    args = ap.parse_args(argv)
    outputs = Path(args.outputs) if args.outputs else Path(args.root) / "outputs"
    if args.print:
        source = outputs / SOURCES[args.print]
        if not source.exists():
            print(f"{source} not found (run the make target that writes it)", file=sys.stderr)
            return 2
        print(render_block(args.print, source, False, Path.cwd()))
        return 0
    try:
        done = update_docs(args.root, outputs)
    except (OSError, ValueError) as e:
        print(e, file=sys.stderr)
        return 1
    for where, what in done.items():
        print(f"{where}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
