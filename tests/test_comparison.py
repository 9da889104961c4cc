"""Tests for the comparison tables, the HTML report and the README results section, on fake
run directories whose metrics.json files follow the kit's schema (tests/fake_run.py)."""

from __future__ import annotations

import html
import json
import re

import pandas as pd
import pytest
from fake_run import ATTENTION_MODELS, ENCODER_DECODER_MODELS, make_fake_run

from hashtag_kit.reporting.comparison import (
    TABLE_NAMES,
    TABLE_TITLES,
    build_tables,
    format_cell,
    headline_table,
    load_published,
    load_run_metrics,
    models_missing_from_tables,
    plot_inputs,
    route_published,
    tidy_metrics,
    uncovered_published,
)
from hashtag_kit.reporting.html import build_figures, compact, write_report
from hashtag_kit.run import ATTENTION, CAPTION, ENCODER_DECODER, PREPROCESS, RunDir
from tools.readme_results import (
    END,
    SOURCES,
    START,
    _merge_equal_rows,
    markdown_table,
    markers,
    update_docs,
)

KRAUSE = "Krause et al. 2017 (Hierarchical paragraph captioning)"


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    return make_fake_run(tmp_path_factory.mktemp("full_run"))


@pytest.fixture(scope="module")
def tables(full_run):
    return build_tables(full_run, k_original=5, k_table=7)


@pytest.fixture(scope="module")
def report_html(full_run, tables):
    path = write_report(full_run, tables)
    assert path == full_run.path / "05_comparison" / "report.html"
    return path.read_text(encoding="utf-8")


def _row(df: pd.DataFrame, model: str, source: str = "this run", subset="all") -> pd.Series:
    hit = df[(df["model"] == model) & (df["source"] == source)]
    if "test_posts" in df.columns and source == "this run":
        hit = hit[hit["test_posts"] == subset]
    assert len(hit) == 1, f"{model!r} ({source}) appears {len(hit)} times"
    return hit.iloc[0]


def test_published_reference_is_complete_and_routed():
    pub = load_published()
    assert len(pub) == 54
    assert pub["value"].notna().all()
    assert pub.loc[pub["source"].str.startswith("Sahliya"), "k"].isna().all()
    routes = pub.apply(route_published, axis=1)
    assert set(routes) == {"original", "design", "baselines", "captions"}
    assert (routes[pub["source"].str.startswith("Yakovlev")] == "design").all()
    assert (routes[pub["source"].str.startswith("Park")] == "baselines").all()
    assert (routes[pub["metric"].isin(["bleu4", "cider"])] == "captions").all()


def test_every_model_of_every_stage_is_in_a_table(full_run, tables):
    assert list(tables) == list(TABLE_NAMES)
    assert models_missing_from_tables(tables, load_run_metrics(full_run)) == []
    design_models = set(tables["design"]["model"])
    for name in ENCODER_DECODER_MODELS:
        assert name in design_models
    baseline_models = set(tables["baselines"]["model"])
    for name in ATTENTION_MODELS:
        assert name in baseline_models
    # the same name in two stages is kept apart, not merged
    assert "popularity (02)" in design_models and "popularity (03)" in baseline_models
    assert "captions to tags" in baseline_models  # notebook 04's captions -> hashtags
    # ranking figures from `extra` (HARRISON completion), with their dataset and protocol
    baselines = tables["baselines"].set_index("model")
    completion = baselines.loc["harrison_completion cooccurrence"]
    extra = full_run.metrics(ATTENTION)["extra"]["harrison_completion"]
    assert completion["dataset"] == "harrison" and "hidden" in completion["protocol"]
    assert completion["Hit@5"] == pytest.approx(extra["cooccurrence"]["hit_rate"]["5"])
    assert "harrison_completion popularity" in baseline_models
    captions = tables["captions"]
    assert {"soft attention", "paragraph flat LSTM"} <= set(
        captions.loc[captions["source"] == "this run", "model"]
    )


def test_our_figures_are_the_metrics_json_figures(full_run, tables):
    m02 = full_run.metrics(ENCODER_DECODER)["models"]
    m03 = full_run.metrics(ATTENTION)["models"]
    m04 = full_run.metrics(CAPTION)["captions"]

    entry = m02["encoder-decoder weighted+user"]
    row = _row(tables["design"], "encoder-decoder weighted+user")
    for label, metric in (("Hit@7", "hit_rate"), ("P@7", "precision"), ("R@7", "recall")):
        assert row[label] == pytest.approx(entry["ranking"][metric]["7"])
    assert row["F1@7"] == pytest.approx(entry["ranking"]["f1"]["7"])
    assert (row["fusion"], row["personalisation"], row["modality"]) == ("weighted", True, "both")

    # the test subsets notebook 02 records in extra (e.g. posts without text) get rows too
    extra = full_run.metrics(ENCODER_DECODER)["extra"]
    for subset in ("without_text", "seen_users"):
        for name, ranking in extra[subset].items():
            row = _row(tables["design"], name, subset=subset)
            assert row["F1@7"] == pytest.approx(ranking["f1"]["7"])
            assert row["fusion"] == m02[name]["variant"]["fusion"]
            assert subset in row["protocol"]

    # original table: accuracy is Hit@K at the chosen K, with parameters and ms/step
    row = _row(tables["original"], "attention LSTM/BiLSTM")
    attn = m03["attention LSTM/BiLSTM"]
    assert row["K"] == 5
    assert row["accuracy"] == pytest.approx(attn["ranking"]["hit_rate"]["5"])
    assert row["precision"] == pytest.approx(attn["ranking"]["precision"]["5"])
    assert row["trainable_params"] == attn["trainable_params"]
    assert "K=5" in row["protocol"]
    # single-modality models stay out of the original (image+text) table
    assert "attention image only" not in set(tables["original"]["model"])
    assert {"popularity (02)", "popularity (03)"} <= set(tables["original"]["model"])  # differ

    # baselines are also shown at HARRISON's own K (P@1, R@5, Hit@5)
    row = _row(tables["baselines"], "kNN image")
    assert row["P@1"] == pytest.approx(m03["kNN image"]["ranking"]["precision"]["1"])
    assert row["Hit@5"] == pytest.approx(m03["kNN image"]["ranking"]["hit_rate"]["5"])

    row = _row(tables["captions"], "soft attention")
    for metric in ("bleu1", "bleu4", "meteor", "cider"):
        assert row[metric] == pytest.approx(m04["soft attention"][metric])
    para = _row(tables["captions"], "paragraph flat LSTM")
    assert pd.isna(para["meteor"]) and "Java" in para["note"]
    assert para["repeated_trigrams_per_paragraph"] == pytest.approx(0.42)
    krause = _row(tables["captions"], "regions-hierarchical", KRAUSE)
    assert krause["task"] == "paragraph" and "K not" not in krause["protocol"]


def test_every_published_figure_is_in_a_table_with_its_protocol(tables):
    pub = load_published()
    assert uncovered_published(tables, pub).empty
    for _, r in pub.iterrows():
        table = tables[route_published(r)]
        label = r["metric"] if pd.isna(r["k"]) else None
        if label is None:
            short = {"hit_rate": "Hit", "precision": "P", "recall": "R", "f1": "F1"}
            label = f"{short[r['metric']]}@{int(r['k'])}"
        row = _row(table, r["model"], r["source"])
        assert row[label] == pytest.approx(r["value"]), (r["model"], r["metric"])
        assert row["protocol"].startswith("published: " + r["dataset"])
        assert "this run (embedded" in row["protocol"]
    original = tables["original"]
    published = original[original["source"] != "this run"]
    assert (published["K"] == "not stated").all()
    # a figure the tables lack is reported by the check
    broken = {n: df.copy() for n, df in tables.items()}
    broken["design"] = broken["design"][broken["design"]["model"] != "DESIGN, ViT, sum fusion"]
    assert len(uncovered_published(broken, pub)) == 4


def test_a_k_the_stages_do_not_score_is_refused(full_run):
    """Notebook 05's K_TABLE / K_ORIGINAL and `report --k`: K = 0 or 11 gave tables whose
    columns were all empty."""
    for bad in ({"k_table": 0}, {"k_original": 11}, {"k_table": 2.5}):
        with pytest.raises(ValueError, match="must be a K the stages score, 1 to 10"):
            build_tables(full_run, **bad)
    assert build_tables(full_run, k_original=1, k_table=10)["design"] is not None


@pytest.mark.parametrize(
    "stages",
    [(PREPROCESS, ENCODER_DECODER), (PREPROCESS, ATTENTION, CAPTION), ()],
    ids=["only-02", "no-02", "nothing"],
)
def test_missing_stages_are_reported_not_crashed(tmp_path, stages):
    rd = make_fake_run(tmp_path, stages=stages)
    run_metrics = load_run_metrics(rd)
    tables = build_tables(rd)
    status = dict(zip(tables["stages"]["stage"], tables["stages"]["status"], strict=True))
    for stage in (PREPROCESS, ENCODER_DECODER, ATTENTION, CAPTION):
        assert status[stage] == ("ok" if stage in stages else "missing")
    expect_missing = {
        "original": [s for s in (ENCODER_DECODER, ATTENTION) if s not in stages],
        "design": [ENCODER_DECODER] if ENCODER_DECODER not in stages else [],
        "baselines": [ATTENTION] if ATTENTION not in stages else [],
        "captions": [CAPTION] if CAPTION not in stages else [],
    }
    for name, missing in expect_missing.items():
        df = tables[name]
        notes = df.loc[df["model"].str.startswith("("), "note"].tolist()
        assert len(notes) == len(missing), name
        for stage, note in zip(missing, notes, strict=True):
            assert f"stage {stage} not run" in note and "metrics.json" in note
    # published figures are there whatever ran
    assert uncovered_published(tables).empty
    assert models_missing_from_tables(tables, run_metrics) == []


def test_unreadable_metrics_json_is_named(tmp_path):
    rd = make_fake_run(tmp_path)
    (rd.path / ATTENTION / "metrics.json").write_text('{"models": {', encoding="utf-8")
    tables = build_tables(rd)
    stages = tables["stages"].set_index("stage")
    assert stages.loc[ATTENTION, "status"] == "unreadable"
    note = tables["baselines"].iloc[0]["note"]
    assert str(rd.path / ATTENTION / "metrics.json") in note and "could not be read" in note
    assert "attention LSTM/BiLSTM" not in set(tables["baselines"]["model"])


def test_html_report_is_self_contained_and_holds_the_tables(full_run, tables, report_html):
    page = report_html
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # no external assets: every src is a data URI, no links to http(s) resources, no scripts
    srcs = re.findall(r'\bsrc="([^"]*)"', page)
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:)?//', page, re.I)
    assert "<link" not in page and "<script" not in page and "@import" not in page
    for name in TABLE_NAMES:
        assert html.escape(TABLE_TITLES[name]) in page
        assert f'id="{name}"' in page
    for name, df in tables.items():
        for model in df.get("model", []):
            assert f"<td>{html.escape(str(model))}" in page, (name, model)
    assert page.count('<tr class="published">') == tables_published_rows(tables)
    # figures are formatted, not dumped at full precision
    f1 = _row(tables["design"], "encoder-decoder weighted+user")["F1@7"]
    assert f'<td class="num">{f1:.3f}</td>' in page
    assert "all 54 published figures appear in a table" in page


def test_html_report_puts_the_headline_and_plots_first_and_says_the_protocol_once(
    full_run, report_html
):
    page = report_html
    headline, plots = page.index('id="headline"'), page.index('id="plots"')
    assert headline < plots < min(page.index(f'id="{name}"') for name in TABLE_NAMES)
    # the headline table: every model of this run at K = 7, best F1 first
    top = page[headline:plots]
    rows = [re.findall(r"<td[^>]*>([^<]*)</td>", r) for r in top.split("<tr")[2:]]
    f1 = [float(cells[5]) for cells in rows]  # model, nb, Hit, P, R, F1
    assert f1 == sorted(f1, reverse=True)
    assert len(rows) == len(
        tidy_metrics(load_run_metrics(full_run)).query(
            "metric == 'f1' and k == 7 and split == 'test'"
        )
    )
    # this run's protocol once per table, not in every row; no protocol or note column
    context = "embedded (smoke mode), random split, test part"
    # once in each ranking table (original, design, baselines), and in the headline's note
    assert page.count(context) == 4
    # and once in every table but the stages table
    assert page.count("This run, unless a note says otherwise: embedded (smoke mode)") == 4
    assert "<th>protocol</th>" not in page and "<th>note</th>" not in page
    # a published row's own protocol is a numbered note under its table
    design = page[page.index('id="design"') : page.index('id="baselines"')]
    assert "<li>published: Instagram-41873; K=7</li>" in design
    assert "DESIGN, ViT, weighted fusion (Yakovlev &amp; Shapoval 2024" in design


def test_a_run_scored_on_the_dev_list_says_so_everywhere(tmp_path):
    """Flickr8k's shared copy withholds the test photos: the official split's "test" part is
    the dev list, and no table, title or note of the report may call those figures test ones."""
    rd = make_fake_run(tmp_path / "run", split="official", test_part="val", n_users=0)
    page = write_report(rd).read_text(encoding="utf-8")
    said = "official split, dev list (the test images are withheld)"
    headline = page[page.index('id="headline"') : page.index('id="plots"')]
    assert said in headline and "test posts" not in headline
    assert page.count(f"embedded (smoke mode), {said}") == 4  # every table's protocol sentence
    assert "300 train / 50 dev (scored; test images withheld)" in page  # the stages' note
    assert "12 dev images" in page and "test images," not in page  # the captions' protocol
    assert "test part" not in page and "<th>posts scored</th>" in page
    figures = build_figures(rd)
    assert any(said in t.get_text() for t in figures["metrics_vs_k"].texts)
    # Flickr8k has no users: the personalised rows and the user's tags baseline say so
    for table in ("design", "baselines"):
        part = page[page.index(f'id="{table}"') :]
        assert "This dataset has no users" in part[: part.index("<table")]
    assert page.count("This dataset has no users") == 2
    # a run of an official split with its test images present is scored on its test part
    rd = make_fake_run(tmp_path / "run2", split="official", test_part="test")
    assert "official split, test part" in write_report(rd).read_text(encoding="utf-8")


def test_rows_from_another_dataset_keep_their_dataset_column(tables):
    """HARRISON completion sits in the baselines table beside the run's own rows: the table
    keeps its dataset column then, so those rows do not read as the run's data."""
    shown, said, _ = compact(tables["baselines"])
    ours = shown[~shown["model"].str.contains(r"\(", regex=True)]
    assert set(ours["dataset"].dropna()) == {"embedded", "harrison"}
    assert "dataset" not in compact(tables["design"])[0].columns  # one dataset: said once


def test_compact_says_the_shared_protocol_once_and_numbers_the_rest(tables):
    shown, said, notes = compact(tables["design"])
    assert {"protocol", "note", "source", "dataset"}.isdisjoint(shown.columns)
    assert said[0].startswith("This run, unless a note says otherwise: embedded (smoke mode)")
    assert said[1].startswith("Published rows (shaded): each differs from this run")
    subset = shown[shown["test_posts"] == "without_text"]
    assert len(set(subset["notes"])) == 1 and notes[int(subset["notes"].iloc[0]) - 1].endswith(
        "the scored posts, subset without_text (metrics.json extra.without_text)"
    )
    assert set(shown["nb"].dropna()) == {"02"}
    stages, said, _ = compact(tables["stages"])  # no protocol: the dataset stays a column
    assert "dataset" in stages.columns and not said


def test_tidy_frame_holds_every_figure_and_the_headline_is_its_pivot(full_run, tables):
    tidy = tidy_metrics(load_run_metrics(full_run))
    assert list(tidy.columns) == ["stage", "model", "split", "metric", "k", "value"]
    main = tidy[(tidy["model"] == "encoder-decoder weighted+user") & (tidy["split"] == "test")]
    f1 = main[(main["metric"] == "f1") & (main["k"] == 7)]["value"]
    assert f1.tolist() == [_row(tables["design"], "encoder-decoder weighted+user")["F1@7"]]
    assert "without_text" in set(tidy["split"])
    assert "bleu4" in set(tidy["metric"])  # caption metrics too
    head = headline_table(tidy, k=7)
    assert list(head.columns) == ["model", "stage", "Hit@7", "P@7", "R@7", "F1@7", "mrr"] + [
        "trainable_params"
    ]
    assert head["F1@7"].is_monotonic_decreasing
    assert head.loc[head["model"] == "encoder-decoder weighted+user", "F1@7"].item() == f1.item()
    # popularity scored by 02 and 03: two rows with different figures (the fake run's) ...
    assert {"popularity (02)", "popularity (03)"} <= set(head["model"])
    p02 = tidy[tidy["model"] == "popularity (02)"]
    alike = pd.concat(  # ... one row naming both when they score alike (the same test posts)
        [
            tidy[tidy["model"] != "popularity (03)"],
            p02.assign(model="popularity (03)", stage=ATTENTION),
        ]
    )
    one = headline_table(alike, k=7)
    popular = one[one["model"].str.startswith("popularity")]
    assert popular["model"].tolist() == ["popularity"]
    assert popular["stage"].item() == f"{ENCODER_DECODER}, {ATTENTION}"
    assert compact(popular)[0]["nb"].tolist() == ["02, 03"]
    assert len(one) == len(head) - 1


def tables_published_rows(tables) -> int:
    return sum(int((df["source"] != "this run").sum()) for n, df in tables.items() if n != "stages")


def test_html_report_states_the_environment(full_run, report_html):
    page = report_html
    for text in ("efficientnet_lite0", "use_multilingual_v3", "smoke", "keras", "GPU", "CPU"):
        assert text in page, text
    timings = json.loads((full_run.path / "timings.json").read_text())
    total = sum(timings.values())
    assert f"Total notebook wall time: {total:.0f} s" in page
    assert f'<td class="num">{timings[ATTENTION]:.1f}</td>' in page


def test_report_for_an_empty_run_says_what_is_missing(tmp_path):
    rd = RunDir(tmp_path / "empty")
    rd.path.mkdir()
    page = write_report(rd).read_text(encoding="utf-8")
    assert "not run" in page and "No timings.json" in page
    assert "all 54 published figures appear in a table" in page


def _checkout(tmp_path, run_dir=None):
    """A checkout with README.md and docs/results.md holding every generated block, and the
    fake run as outputs/default."""
    blocks = "".join(
        f"{start}\nold {name}\n{end}\n" for name in SOURCES for start, end in [markers(name)]
    )
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(f"# Kit\n\nintro\n\n{blocks}\nafter\n")
    (tmp_path / "docs" / "results.md").write_text(f"# Results\n\n{blocks}")
    if run_dir is not None:
        (tmp_path / "outputs").mkdir()
        (tmp_path / "outputs" / "default").symlink_to(run_dir.path)
    return tmp_path


def test_update_docs_replaces_only_the_blocks_whose_run_is_there(full_run, tmp_path):
    root = _checkout(tmp_path, full_run)
    done = update_docs(root)
    assert done["README.md results"] == done["docs/results.md results"] == "updated"
    assert done["README.md flickr8k"].startswith("kept (no ")
    assert "README.md fusion" not in done  # the seed study (embedded data): docs/ only
    readme, docs = (root / "README.md").read_text(), (root / "docs" / "results.md").read_text()
    head, rest = readme.split(START)
    body, tail = rest.split(END)
    assert head == "# Kit\n\nintro\n\n" and tail.startswith("\n<!-- flickr8k:start -->")
    assert "old results" not in body and "old flickr8k" in readme and "old fusion" in docs
    # README: the compact table (notebook 02's models on all test posts), docs: every table
    row = "| encoder-decoder weighted+user | weighted | yes | both |"
    assert row in body and "DESIGN, ViT" not in body and "[docs/results.md]" in body
    assert "| encoder-decoder weighted+user | this run | embedded | weighted | yes | both |" in docs
    assert "| DESIGN, ViT, weighted fusion | Yakovlev & Shapoval 2024 |" in docs
    assert "run mode: `smoke`" in docs and "measured wall time" in docs
    assert "(../outputs/default/05_comparison/report.html)" in docs
    assert update_docs(root)["README.md results"] in ("unchanged", "updated")  # date may move

    (root / "README.md").write_text("# no markers\n")
    with pytest.raises(ValueError, match="README.md.*results:start"):
        update_docs(root)


def test_cells_and_markdown_formatting():
    assert format_cell(None) == "–" and format_cell(float("nan"), "P@7") == "–"
    assert format_cell(0.123456, "F1@7") == "0.123"
    assert format_cell(9169492.0, "trainable_params") == "9,169,492"
    assert format_cell(35.04, "ms_per_step") == "35.0"
    assert format_cell(True) == "yes" and format_cell("weighted") == "weighted"
    df = pd.DataFrame({"model": ["a|b"], "source": ["Xu et al. 2015 (Show, Attend and Tell)"]})
    assert markdown_table(df).splitlines()[-1] == "| a\\|b | Xu et al. 2015 |"


def test_compact_tables_fold_a_row_into_an_earlier_one_with_the_same_figures():
    rows = [
        {"model": "popularity", "notebook": "03", "F1@5": 0.18},
        {"model": "user top tags", "notebook": "03", "F1@5": 0.18},
        {"model": "kNN image", "notebook": "03", "F1@5": 0.3},
        {"model": "captions->tags", "notebook": "04", "F1@5": 0.18},  # another notebook
    ]
    folded = _merge_equal_rows(rows)
    assert [r["model"] for r in folded] == [
        "popularity = user top tags",
        "kNN image",
        "captions->tags",
    ]
    assert rows[0]["model"] == "popularity"  # the input is left as it was


def test_plot_inputs_cover_every_model_and_share_identical_histories(full_run):
    inputs = plot_inputs(load_run_metrics(full_run))
    n_models = len(ENCODER_DECODER_MODELS) + len(ATTENTION_MODELS) + 2 + 1  # popularity x2, 04
    assert len(inputs["rankings"]) == len(inputs["models"]) == n_models
    hist = inputs["histories"]
    # the two caption models of the fake run were trained with the same (fake) history
    assert hist["soft attention / paragraph flat LSTM"]["loss"] == [3.0, 2.0]
    trained = [n for n, e in inputs["models"].items() if e["history"]]
    assert all(n in hist for n in trained) and len(hist) == len(trained) + 1
    assert {"popularity (02)", "popularity (03)"} <= set(inputs["rankings"])  # not alike


def test_plots_and_tables_show_a_model_scored_alike_by_two_notebooks_once(tmp_path):
    rd = make_fake_run(tmp_path)
    m02, path03 = rd.metrics(ENCODER_DECODER), rd.path / ATTENTION / "metrics.json"
    m03 = json.loads(path03.read_text())
    m03["models"]["popularity"]["ranking"] = m02["models"]["popularity"]["ranking"]
    path03.write_text(json.dumps(m03))
    inputs = plot_inputs(load_run_metrics(rd))
    popular = [n for n in inputs["rankings"] if n.startswith("popularity")]
    assert popular == ["popularity (02, 03)"]
    assert inputs["groups"]["popularity (02, 03)"] == "notebook 02"
    assert inputs["rankings"]["popularity (02, 03)"] == m02["models"]["popularity"]["ranking"]
    assert len(inputs["models"]) == len(inputs["rankings"]) + 1  # the entries stay as they are
    # the original project's table lists notebooks 02 and 03's models together: one row
    original = build_tables(rd, k_original=5, k_table=7)["original"]
    ours = original[original["source"] == "this run"]
    popular = ours[ours["model"].str.startswith("popularity")]
    assert list(popular["model"]) == ["popularity (02, 03)"]
    assert list(popular["stage"]) == [f"{ENCODER_DECODER}, {ATTENTION}"]
    assert popular["accuracy"].item() == m02["models"]["popularity"]["ranking"]["hit_rate"]["5"]


def test_malformed_entries_are_shown_with_a_note(tmp_path):
    rd = make_fake_run(tmp_path)
    path = rd.path / ATTENTION / "metrics.json"
    data = json.loads(path.read_text())
    data["models"]["a number"] = 3
    data["models"]["bad ranking"] = {"family": "attention", "ranking": "n/a"}
    data["extra"] = ["not", "an", "object"]
    path.write_text(json.dumps(data))
    tables = build_tables(rd)
    base = tables["baselines"].set_index("model")
    assert "not an object" in base.loc["a number", "note"]
    assert '"ranking" is str' in base.loc["bad ranking", "note"]
    assert pd.isna(base.loc["bad ranking", "F1@7"])
    stage_note = tables["stages"].set_index("stage").loc[ATTENTION, "note"]
    assert '"extra" is list' in stage_note and "bad ranking" in stage_note
    assert "a number" in stage_note
    write_report(rd, tables)  # renders without error


def test_docs_add_a_real_data_evaluation(tmp_path):
    from hashtag_kit.run import write_metrics

    root = _checkout(tmp_path)
    stage = root / "outputs" / "tweets-eval" / "evaluate_tweets"
    ranking = {
        key: {"1": 0.1, "5": 0.25, "10": 0.4} for key in ("hit_rate", "precision", "recall", "f1")
    }
    write_metrics(
        stage,
        {
            "dataset": "tweeteval",
            "run_mode": "full",
            "seed": 0,
            "split": "tweeteval",
            "models": {"popularity": {"family": "baseline", "ranking": ranking}},
            "extra": {"protocol": {"split": "own files", "n_train": 8564, "n_test": 6389}},
        },
    )
    assert update_docs(root)["README.md tweets"] == "updated"
    readme, docs = (root / "README.md").read_text(), (root / "docs" / "results.md").read_text()
    assert "#### Real data: tweeteval" in docs and "#### Real data" not in readme  # README: compact
    for body in (readme, docs):
        assert "8,564 train, 6,389 test posts" in body
        assert "| popularity | 0.100 | 0.250 | 0.400 |" in body
    (stage / "metrics.json").write_text("{}")
    with pytest.raises(ValueError, match="not an evaluation"):
        update_docs(root)
