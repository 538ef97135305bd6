"""Portal accounts: passwords and their rules (`passwords`), temporary passwords (`temporary`), sign-in and
password change (`signin`), the sign-in throttle (`throttle`), the account emails (`emails`), users and grants
(`users`) and the audit trail (`audit`)."""

from shared.accounts.audit import audit, record_event
from shared.accounts.emails import send_invitation, send_invitations, send_password_changed, send_password_reset
from shared.accounts.passwords import (
    MAX_PASSWORD_INPUT,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    AccountError,
    PasswordRejected,
    common_passwords,
    hash_password,
    is_common_password,
    password_problems,
    verify_password,
)
from shared.accounts.signin import SignIn, authenticate, change_password, find_user, notify_password_changed
from shared.accounts.temporary import (
    INVITATION_LIFETIME,
    RESET_LIFETIME,
    generate_temporary_password,
    issue_temporary_password,
    void_temporary_passwords,
)
from shared.accounts.throttle import LoginThrottle, create_counter_store
from shared.accounts.users import (
    USERNAME_PATTERN,
    create_user,
    create_user_and_invite,
    disable_user,
    enable_user,
    grant_customers,
    revoke_customers,
    search_users,
    set_customer_grants,
    set_language,
    set_user_status,
)

__all__ = [
    "INVITATION_LIFETIME",
    "MAX_PASSWORD_INPUT",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "RESET_LIFETIME",
    "USERNAME_PATTERN",
    "AccountError",
    "LoginThrottle",
    "PasswordRejected",
    "SignIn",
    "audit",
    "authenticate",
    "change_password",
    "common_passwords",
    "create_counter_store",
    "create_user",
    "create_user_and_invite",
    "disable_user",
    "enable_user",
    "find_user",
    "generate_temporary_password",
    "grant_customers",
    "hash_password",
    "is_common_password",
    "issue_temporary_password",
    "notify_password_changed",
    "password_problems",
    "record_event",
    "revoke_customers",
    "search_users",
    "send_invitation",
    "send_invitations",
    "send_password_changed",
    "send_password_reset",
    "set_customer_grants",
    "set_language",
    "set_user_status",
    "verify_password",
    "void_temporary_passwords",
]
