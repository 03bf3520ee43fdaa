"""The run report: one list of blocks, written twice — `report.md` (images beside it) and a
self-contained `report.html` (images embedded) — so the two never disagree.

    >>> to_markdown([("table", (["a", "b"], [[1, 2.5]]))])
    '| a | b |\\n|---|---|\\n| 1 | 2.5000 |\\n'
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cnnlab.storage.folders import RunFolder

if TYPE_CHECKING:  # a summary is made with Keras; reading runs (cnnlab compare) needs none
    from cnnlab.model.summary import ModelSummary

PICTURES = (
    (RunFolder.CURVES, "learning curves"),
    (RunFolder.CONFUSION_MATRIX, "confusion matrix"),
    (RunFolder.MISCLASSIFIED, "most confidently misclassified test images, each beside its Grad-CAM heat map"),
)


def cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def seconds(value) -> str:
    """Seconds to the hundredth, as they are recorded ("7.05"), not with `cell`'s four places.

    >>> seconds(7.05), seconds(1234.5), seconds(None)
    ('7.05', '1,234.50', '')
    """
    return f"{value:,.2f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else cell(value)


def _where(device: dict) -> str:
    """'cpu', or 'gpu (jax, data_parallel: 2 processes, 8 devices)' for a distributed run."""
    details = [device["backend"]] if device.get("backend", "tensorflow") != "tensorflow" else []
    if device.get("distribute", "none") != "none":
        spread = f"{device.get('processes', 1)} processes, " if device.get("processes", 1) > 1 else ""
        details.append(f"{device['distribute']}: {spread}{device.get('replicas', 1)} devices")
    return f"{device.get('device', '?')}" + (f" ({', '.join(details)})" if details else "")


def build_blocks(
    run: RunFolder, *, config_yaml: str, manifest: dict, summary: ModelSummary, metrics: dict, pictures: Mapping
) -> list:
    """The report's content, as (kind, payload) blocks; `pictures` are the PNGs drawn for it."""
    timing, data = manifest.get("timing", {}), manifest.get("data", {})
    keras_metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "best_epoch"}
    # The run's own report is written as the last step of its evaluation: once it exists, that
    # evaluation has completed, although the manifest still says "evaluating" while it is written.
    status = "completed" if manifest.get("status") == "evaluating" else manifest.get("status", "?")
    blocks = [
        ("h1", f"{manifest.get('name', run.path.parent.name)} — {run.path.name}"),
        ("p", manifest.get("description") or ""),
        (
            "p",
            f"Status {status}: {manifest.get('epochs_completed', '?')} epochs on "
            f"{_where(manifest.get('device', {}))}, seed {manifest.get('seed', '?')}. "
            f"Evaluated {metrics.get('checkpoint', '?')} (epoch {metrics.get('best_epoch', '?')}) "
            f"on the {metrics.get('split', 'test')} split.",
        ),
        ("h2", "Results"),
        (
            "table",
            (
                ["metric", "value"],
                [[k, v] for k, v in keras_metrics.items()]
                + [[k.replace("_", "-") + " accuracy", v] for k, v in metrics.get("top_k_accuracy", {}).items()],
            ),
        ),
    ]
    if metrics.get("caveat"):
        blocks.append(("p", f"Note: {metrics['caveat']}."))
    if metrics.get("per_class"):
        rows = [[c["class"], c["precision"], c["recall"], c["f1"], c["support"]] for c in metrics["per_class"]]
        blocks += [("h2", "Per class"), ("table", (["class", "precision", "recall", "F1", "support"], rows))]
    if metrics.get("most_confused"):
        blocks += [
            ("h2", "Most confused"),
            (
                "table",
                (
                    ["true class", "predicted as", "examples"],
                    [[p["true"], p["predicted"], p["count"]] for p in metrics["most_confused"]],
                ),
            ),
        ]
    blocks += [
        ("h2", "Training"),
        (
            "p",
            (
                f"{data.get('dataset', '?')} from {data.get('origin', '?')}: "
                f"{cell(data.get('train_examples'))} training, {cell(data.get('validation_examples'))} validation "
                f"and {cell(data.get('test_examples'))} test examples. Training took "
                f"{seconds(timing.get('train_seconds'))} s ({cell(timing.get('images_per_second'))} images/s)."
            ),
        ),
    ]
    blocks += [("image", (name, alt)) for name, alt in PICTURES if name in pictures]
    rows = [
        [r.name, r.class_name, "x".join(str(d) for d in r.output_shape[1:]), r.params, r.macs] for r in summary.rows
    ]
    rows.append(["total", "", "", summary.total_params, summary.total_macs])
    blocks += [
        ("h2", "Model"),
        ("table", (["layer", "type", "output", "parameters", "MACs"], rows)),
        ("h2", "Config"),
        ("code", config_yaml.rstrip()),
    ]
    return blocks


def to_markdown(blocks: list) -> str:
    out = []
    for kind, payload in blocks:
        if kind in ("h1", "h2"):
            out.append(f"{'#' if kind == 'h1' else '##'} {payload}\n")
        elif kind == "p" and payload:
            out.append(f"{payload}\n")
        elif kind == "table":
            header, rows = payload
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
            out.append("\n".join(lines) + "\n")
        elif kind == "list":
            out.append("".join(f"- {item}\n" for item in payload))
        elif kind == "details":  # folded; GitHub and most Markdown viewers open it on a click
            summary, items = payload
            out.append(
                f"<details><summary>{summary}</summary>\n\n" + "".join(f"- {i}\n" for i in items) + "\n</details>\n"
            )
        elif kind == "image":
            out.append(f"![{payload[1]}]({payload[0]})\n")
        elif kind == "code":
            out.append(f"```yaml\n{payload}\n```\n")
    return "\n".join(out)


_STYLE = (
    ("", "font-family:sans-serif;max-width:1100px"),
    ("table", "border-collapse:collapse;margin:1em 0"),
    ("td,th", "border:1px solid #ccc;padding:3px 8px;text-align:right"),
    ("td:first-child,th:first-child", "text-align:left"),
    ("th", "background:#f3f3f3"),
    ("img", "max-width:100%;margin:1em 0"),
    ("pre", "background:#f6f6f6;padding:1em;overflow:auto"),
)


def _style(scope: str) -> str:
    """The page's CSS with every selector under `scope` (`body` for a page; a class for a part
    of someone else's page, such as a notebook's output)."""
    rules = []
    for selectors, declarations in _STYLE:
        under = ",".join(f"{scope} {s}" for s in selectors.split(",")) if selectors else scope
        rules.append(f"{under}{{{declarations}}}")
    return "".join(rules)


def _body(blocks: list, pictures: Mapping[str, bytes]) -> str:
    body = []
    for kind, payload in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{html.escape(payload)}</{kind}>")
        elif kind == "p" and payload:
            body.append(f"<p>{html.escape(payload)}</p>")
        elif kind == "table":
            header, rows = payload
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            cells = "".join("<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>" for row in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in payload) + "</ul>")
        elif kind == "details":
            summary, items = payload
            listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
            body.append(f"<details><summary>{html.escape(summary)}</summary><ul>{listed}</ul></details>")
        elif kind == "image":
            data = base64.b64encode(pictures[payload[0]]).decode()
            body.append(f'<img alt="{html.escape(payload[1])}" src="data:image/png;base64,{data}">')
        elif kind == "code":
            body.append(f"<pre><code>{html.escape(payload)}</code></pre>")
    return "\n".join(body)


def to_html(blocks: list, pictures: Mapping[str, bytes], title: str = "cnnlab report") -> str:
    """A self-contained page: the image blocks embed the PNGs of `pictures`, by name."""
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_style('body')}body{{margin:2em auto;padding:0 1em}}</style></head><body>\n"
        + _body(blocks, pictures)
        + "\n</body></html>\n"
    )


def to_fragment(blocks: list, pictures: Mapping[str, bytes]) -> str:
    """The same content as a part of another page (a notebook's output), its style kept inside."""
    return _fragment(_body(blocks, pictures))


def fragment_of(page: str) -> str:
    """A page made by `to_html`, as a part of another page."""
    return _fragment(page[page.index("<body>") + len("<body>") : page.rindex("</body>")])


def _fragment(body: str) -> str:
    return f'<div class="cnnlab-report"><style>{_style(".cnnlab-report")}</style>{body}</div>'


def write_report(run: RunFolder, *, pictures: Mapping[str, bytes], **content) -> None:
    """`report.md` (the pictures beside it) and `report.html` (the pictures inside it) from the
    run's config, manifest, summary and metrics."""
    blocks = build_blocks(run, pictures=pictures, **content)
    run.write_report(to_markdown(blocks), to_html(blocks, pictures))
