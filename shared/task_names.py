"""Task names: the web app and beat start work by these names only (`send_task`), never by importing tasks."""

START_RUN = "edocta.runs.start"
SCHEDULED_TICK = "edocta.runs.scheduled_tick"
PROCESS_ACCOUNT = "edocta.runs.process_account"
SEND_EMAIL = "edocta.mail.send_statement_email"
SWEEP_OUTBOX = "edocta.mail.sweep_outbox"
RENDER_ON_DEMAND = "edocta.render.on_demand"

QUEUE_RENDER = "render"
QUEUE_RENDER_LARGE = "render_large"
QUEUE_MAIL = "mail"
# Statements with more lines than this render on the large-statement queue (its own memory cap).
LARGE_STATEMENT_LINES = 1000

# Account emails: the web only enqueues these, so its answer never depends on whether the user exists.
SEND_INVITATION = "edocta.accounts.send_invitation"  # args: user_id
SEND_PASSWORD_RESET = "edocta.accounts.send_password_reset"  # noqa: S105 (a task name) args: username as typed
SEND_PASSWORD_CHANGED = "edocta.accounts.send_password_changed"  # noqa: S105 (a task name) args: user_id
