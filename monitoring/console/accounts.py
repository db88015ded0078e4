"""Operator accounts of the console: roles, creation, sign-in checks and the ``operators`` command.

Roles grow in rights: a viewer reads every page, an operator may also replay and discard parked
deliveries, and an admin may also manage operators and read the configuration. Every change to
an account is written to the audit log in the same transaction.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import logging
import os
import re
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from hub import config as hub_config
from hub.envelope import utcnow
from hub.errors import HubError
from hub.journal import Journal
from monitoring.console import audit, passwords
from monitoring.console.audit import Action
from monitoring.console.tables import operators

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
NAME_EXPECTED = "1 to 100 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
FIRST_ADMIN = "admin"
FIRST_ADMIN_PASSWORD_FILE = "console-admin-password"


class Role(str, Enum):
    """Permission level of an operator; each role has every right of the roles before it."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    def allows(self, needed: "Role") -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


class AccountError(HubError, ValueError):
    """An account change was rejected; the message names the account and the reason."""


@dataclass(frozen=True)
class Operator:
    name: str
    role: Role
    created_at: datetime
    disabled: bool


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise AccountError(f"role '{value}' is not a console role; expected viewer, operator or admin") from None


def add_operator(journal: Journal, name: str, password: str, role: Role, *, actor: str) -> Operator:
    """Create an enabled account; AccountError for a bad name, a weak password or a name in use."""
    if not NAME_PATTERN.match(name):
        raise AccountError(f"operator name '{name}' is not valid; expected {NAME_EXPECTED}")
    problem = passwords.check_strength(password)
    if problem:
        raise AccountError(f"operator '{name}': {problem}")

    row = {"name": name, "password_hash": passwords.hash_password(password), "role": role.value,
           "created_at": utcnow(), "disabled": False}
    try:
        with journal.engine.begin() as connection:
            connection.execute(operators.insert().values(**row))
            audit.write(connection, actor, Action.OPERATOR_ADDED, target=name, detail={"role": role.value})
    except IntegrityError:
        raise AccountError(f"operator '{name}' already exists; choose another name") from None
    log.info("console operator %s added with role %s by %s", name, role.value, actor)
    return _operator(row)


def get_operator(journal: Journal, name: str) -> Operator | None:
    with journal.engine.connect() as connection:
        row = connection.execute(select(operators).where(operators.c.name == name)).first()
    return _operator(row._mapping) if row else None


def list_operators(journal: Journal) -> list[Operator]:
    with journal.engine.connect() as connection:
        rows = connection.execute(select(operators).order_by(operators.c.name)).all()
    return [_operator(row._mapping) for row in rows]


def has_operators(journal: Journal) -> bool:
    with journal.engine.connect() as connection:
        return bool(connection.execute(select(func.count()).select_from(operators)).scalar())


def authenticate(journal: Journal, name: str, password: str) -> Operator | None:
    """Return the enabled operator whose password this is, or None."""
    with journal.engine.connect() as connection:
        row = connection.execute(select(operators).where(operators.c.name == name)).first()
    stored = row.password_hash if row is not None else _unknown_user_hash()
    matches = passwords.verify_password(password, stored)
    if row is None or not matches or row.disabled:
        return None
    return _operator(row._mapping)


def set_disabled(journal: Journal, name: str, disabled: bool, *, actor: str) -> Operator:
    """Disable or enable an account; the last enabled admin cannot be disabled."""
    with journal.engine.begin() as connection:
        row = connection.execute(select(operators).where(operators.c.name == name).with_for_update()).first()
        if row is None:
            raise AccountError(f"operator '{name}' does not exist")
        if disabled and row.role == Role.ADMIN.value and not row.disabled and _enabled_admins(connection) <= 1:
            raise AccountError(f"operator '{name}' is the last enabled admin; add another admin first")
        connection.execute(update(operators).where(operators.c.name == name).values(disabled=disabled))
        action = Action.OPERATOR_DISABLED if disabled else Action.OPERATOR_ENABLED
        audit.write(connection, actor, action, target=name)
    log.info("console operator %s %s by %s", name, "disabled" if disabled else "enabled", actor)
    return _operator({**row._mapping, "disabled": disabled})


def set_password(journal: Journal, name: str, password: str, *, actor: str) -> None:
    """Replace an account's password; AccountError for an unknown account or a weak password."""
    problem = passwords.check_strength(password)
    if problem:
        raise AccountError(f"operator '{name}': {problem}")
    with journal.engine.begin() as connection:
        result = connection.execute(update(operators).where(operators.c.name == name)
                                    .values(password_hash=passwords.hash_password(password)))
        if result.rowcount != 1:
            raise AccountError(f"operator '{name}' does not exist")
        audit.write(connection, actor, Action.PASSWORD_CHANGED, target=name)
    log.info("console password of %s changed by %s", name, actor)


@functools.cache
def _unknown_user_hash() -> str:
    """Hash a random password once, to check against when the name is unknown.

    A wrong name then takes as long as a wrong password, so response times do not reveal names.
    """
    return passwords.hash_password(secrets.token_urlsafe(16))


def _enabled_admins(connection: Any) -> int:
    query = select(func.count()).select_from(operators).where(
        operators.c.role == Role.ADMIN.value, operators.c.disabled.is_(False))
    return int(connection.execute(query).scalar() or 0)


def _operator(row: Any) -> Operator:
    created_at = row["created_at"]
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=timezone.utc)
    return Operator(name=row["name"], role=Role(row["role"]), created_at=created_at, disabled=bool(row["disabled"]))


# -- the first admin of an embedded hub ------------------------------------------------------------

def first_admin_password_path(data_dir: Path) -> Path:
    return Path(data_dir) / FIRST_ADMIN_PASSWORD_FILE


def ensure_first_admin(hub: Any) -> Path | None:
    """Give an embedded hub with no console account an ``admin`` with a random password.

    The password is written to ``<data_dir>/console-admin-password`` (mode 0600), never logged.
    Call it after the journal is migrated (``Hub.start``). Returns the file's path while the file
    exists, or None: in production, or once the file is gone.
    """
    if not hub.config.embedded:
        return None
    path = first_admin_password_path(hub.config.data_dir)
    if has_operators(hub.journal):
        if path.is_file():
            log.info("the console's first admin password is in %s; remove the file once it is changed", path)
            return path
        return None

    password = secrets.token_urlsafe(18)
    try:
        add_operator(hub.journal, FIRST_ADMIN, password, Role.ADMIN, actor="hub")
    except AccountError:
        return path if path.is_file() else None  # another process created it a moment ago
    _write_secret(path, password)
    log.info("created console operator %s; its password is in %s", FIRST_ADMIN, path)
    return path


def forget_first_admin_password(data_dir: Path, name: str) -> None:
    """Remove the first admin's password file once that admin has chosen a new password."""
    path = first_admin_password_path(data_dir)
    if name == FIRST_ADMIN and path.is_file():
        path.unlink()
        log.info("removed %s: the password it held is no longer valid", path)


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    path.chmod(0o600)


# -- the ``cites-hub operators`` command --------------------------------------------------------

def register(commands: argparse._SubParsersAction) -> None:
    """Add ``cites-hub operators add|list|disable|enable|set-password`` to the hub's command."""
    parser = commands.add_parser("operators", help="console operator accounts")
    actions = parser.add_subparsers(dest="operators_command", required=True, metavar="COMMAND")
    add = actions.add_parser("add", help="add an operator; the password is asked for, or read from --password-env")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[role.value for role in Role],
                     help="viewer reads, operator also replays and discards, admin also manages operators")
    listing = actions.add_parser("list", help="every operator with role and state")
    disable = actions.add_parser("disable", help="stop an operator from signing in")
    enable = actions.add_parser("enable", help="let a disabled operator sign in again")
    new_password = actions.add_parser("set-password", help="give an operator a new password")
    for subparser in (add, new_password):
        subparser.add_argument("--password-env", metavar="VARIABLE",
                               help="read the password from this environment variable instead of asking")
    for subparser in (disable, enable, new_password):
        subparser.add_argument("name")
    for subparser in (add, listing, disable, enable, new_password):
        subparser.add_argument("--config", type=Path, default=None, help="YAML configuration (default: embedded mode)")
        subparser.add_argument("--data-dir", type=Path, default=None,
                               help="data folder of the embedded mode (default cites-hub-data)")
        subparser.set_defaults(func=cmd_operators)


def cmd_operators(args: argparse.Namespace) -> int:
    """Run one ``operators`` subcommand against the configured journal."""
    config = hub_config.load(args.config) if args.config else hub_config.default_config(
        args.data_dir or Path("cites-hub-data"))
    journal = Journal(config.journal_url)
    actor = f"cli:{os.environ.get('USER') or 'unknown'}"
    try:
        journal.upgrade()
        if args.operators_command == "list":
            for operator in list_operators(journal):
                state = "disabled" if operator.disabled else "enabled"
                print(f"{operator.name:24} {operator.role.value:9} {state:9} since {operator.created_at:%Y-%m-%d}")
            return 0
        if args.operators_command == "add":
            add_operator(journal, args.name, _read_password(args.password_env), parse_role(args.role), actor=actor)
        elif args.operators_command == "set-password":
            set_password(journal, args.name, _read_password(args.password_env), actor=actor)
            forget_first_admin_password(config.data_dir, args.name)
        else:
            set_disabled(journal, args.name, args.operators_command == "disable", actor=actor)
        print(f"operator {args.name}: {args.operators_command} done")
        return 0
    finally:
        journal.close()


def _read_password(variable: str | None) -> str:
    if variable:
        value = os.environ.get(variable)
        if not value:
            raise AccountError(f"environment variable {variable} is not set or empty; expected the password")
        return value
    if not sys.stdin.isatty():
        raise AccountError("no terminal to ask for the password; pass --password-env VARIABLE")
    first = getpass.getpass("password: ")
    if getpass.getpass("password again: ") != first:
        raise AccountError("the two passwords differ; nothing was changed")
    return first
