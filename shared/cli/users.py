"""`edocta users ...`: create users (with their invitation), disable them, grant and revoke customers."""

from __future__ import annotations

import click

from shared.cli.base import UserError


@click.group()
def users() -> None:
    """Portal users."""


@users.command("add")
@click.argument("username")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["customer", "staff", "admin"]), default="customer", show_default=True)
@click.option("--customers", default="", help="Customer numbers, `;`-separated (customer users).")
@click.option("--language", type=click.Choice(["es", "en"]), default="es", show_default=True)
@click.option("--full-name", default="")
def users_add(username: str, email: str, role: str, customers: str, language: str, full_name: str) -> None:
    """Create a user and email the invitation."""
    from shared.accounts import AccountError, create_user_and_invite

    try:
        create_user_and_invite(
            username=username,
            email=email,
            role=role,
            customer_numbers=[c.strip() for c in customers.split(";") if c.strip()],
            language=language,
            full_name=full_name,
        )
    except AccountError as error:
        raise UserError(str(error)) from None
    click.echo(f"user {username} created; invitation sent to {email}")


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable a user (takes effect on their next request)."""
    from shared.accounts import AccountError, disable_user

    try:
        disable_user(username)
    except AccountError as error:
        raise UserError(str(error)) from None
    click.echo(f"user {username} disabled")


@users.command("grant")
@click.argument("username")
@click.argument("customers")
def users_grant(username: str, customers: str) -> None:
    """Let a customer user see these customers (`;`-separated numbers)."""
    from shared.accounts import AccountError, grant_customers

    try:
        grant_customers(username, [c.strip() for c in customers.split(";") if c.strip()])
    except AccountError as error:
        raise UserError(str(error)) from None
    click.echo(f"granted {customers} to {username}")


@users.command("revoke")
@click.argument("username")
@click.argument("customers")
def users_revoke(username: str, customers: str) -> None:
    """Remove grants (`;`-separated customer numbers); effective at once."""
    from shared.accounts import AccountError, revoke_customers

    try:
        revoke_customers(username, [c.strip() for c in customers.split(";") if c.strip()])
    except AccountError as error:
        raise UserError(str(error)) from None
    click.echo(f"revoked {customers} from {username}")
