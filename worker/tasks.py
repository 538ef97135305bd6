"""Celery tasks: thin adapters that parse their arguments (ids and ISO dates) and call one service in shared/."""
