"""Task names: the web app and beat start work by these names only (`send_task`), never by importing tasks."""

START_RUN = "edocta.runs.start"
SCHEDULED_TICK = "edocta.runs.scheduled_tick"
PROCESS_ACCOUNT = "edocta.runs.process_account"
SEND_EMAIL = "edocta.mail.send_statement_email"
SWEEP_OUTBOX = "edocta.mail.sweep_outbox"
RENDER_ON_DEMAND = "edocta.render.on_demand"
SEND_ACCOUNT_EMAIL = "edocta.mail.send_account_email"

QUEUE_RENDER = "render"
QUEUE_RENDER_LARGE = "render_large"
QUEUE_MAIL = "mail"
# Statements with more lines than this render on the large-statement queue (its own memory cap).
LARGE_STATEMENT_LINES = 1000
