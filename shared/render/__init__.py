"""The statement renderers: one `Statement` value, four formats (JSON, HTML, XLSX, PDF), and the statement store's
files rendered once per data version (`stored`).

The PDF is the HTML document printed by WeasyPrint, and the portal includes the same partials, so the page, the
file and the email attachment never disagree. Each renderer draws from the `Statement` value alone, in the
statement's language (`statement.language`). The heavy renderers (`html`, `pdf`, `xlsx`) load when first used.
How long each render took is recorded where it happens (`timings`).
"""

from shared.render.files import (
    CONTENT_TYPES,
    FORMATS,
    render_json,
    render_statement,
    statement_filename,
    stored_filename,
)
from shared.render.inflight import TooManyRenders
from shared.render.stored import (
    RenderedFiles,
    RenderPlan,
    StoredStatement,
    ensure_rendered,
    is_large,
    is_stored,
    render_into_store,
    render_missing,
    render_on_demand,
    render_plan,
    render_requested_at,
    request_render,
    store_rendered,
    stored_file,
)
from shared.render.timings import RenderHistogram, record_render, render_histograms, set_process_role, timed_render

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "RenderHistogram",
    "RenderPlan",
    "RenderedFiles",
    "StoredStatement",
    "TooManyRenders",
    "ensure_rendered",
    "is_large",
    "is_stored",
    "record_render",
    "render_histograms",
    "render_into_store",
    "render_json",
    "render_missing",
    "render_on_demand",
    "render_plan",
    "render_requested_at",
    "render_statement",
    "request_render",
    "set_process_role",
    "statement_filename",
    "store_rendered",
    "stored_file",
    "stored_filename",
    "timed_render",
]
