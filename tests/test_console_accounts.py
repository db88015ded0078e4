"""Console operator accounts: password hashes, roles, the first admin and the ``operators`` command."""

import stat

import pytest

from hub.cli import build_parser
from hub.config import default_config
from hub.journal import Journal
from monitoring.console import accounts, audit, passwords
from monitoring.console.accounts import AccountError, Role
from monitoring.console.audit import Action

PASSWORD = "a-long-enough-password"


def run_operators(argv):
    """Run ``cites-hub operators ...`` through a parser that has the console's commands registered."""
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command")
    if "operators" not in commands.choices:
        accounts.register(commands)
    args = parser.parse_args(argv)
    return args.func(args)


def test_password_hash_verifies_only_its_password():
    stored = passwords.hash_password(PASSWORD)

    assert passwords.verify_password(PASSWORD, stored)
    assert not passwords.verify_password(PASSWORD + "x", stored)


def test_password_hash_has_a_salt_of_its_own():
    first = passwords.hash_password(PASSWORD)
    second = passwords.hash_password(PASSWORD)

    assert first != second
    assert first.startswith("scrypt$16384$8$1$")


def test_malformed_hash_never_verifies():
    assert not passwords.verify_password(PASSWORD, "scrypt$not$a$hash")
    assert not passwords.verify_password(PASSWORD, "md5$1$2$3$4$5")


def test_roles_grow_in_rights():
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert not Role.OPERATOR.allows(Role.ADMIN)


def test_added_operator_signs_in_with_its_password(make_hub):
    hub = make_hub()
    accounts.add_operator(hub.journal, "ana", PASSWORD, Role.OPERATOR, actor="test")

    operator = accounts.authenticate(hub.journal, "ana", PASSWORD)

    assert operator.name == "ana"
    assert operator.role is Role.OPERATOR
    assert accounts.authenticate(hub.journal, "ana", "wrong password here") is None
    assert accounts.authenticate(hub.journal, "nobody", PASSWORD) is None


def test_short_password_is_rejected_with_its_length(make_hub):
    hub = make_hub()

    with pytest.raises(AccountError, match="operator 'ana': password has 5 characters"):
        accounts.add_operator(hub.journal, "ana", "short", Role.VIEWER, actor="test")


def test_bad_name_is_rejected(make_hub):
    hub = make_hub()

    with pytest.raises(AccountError, match="operator name 'ana smith' is not valid"):
        accounts.add_operator(hub.journal, "ana smith", PASSWORD, Role.VIEWER, actor="test")


def test_name_in_use_is_rejected(make_hub):
    hub = make_hub()
    accounts.add_operator(hub.journal, "ana", PASSWORD, Role.VIEWER, actor="test")

    with pytest.raises(AccountError, match="operator 'ana' already exists"):
        accounts.add_operator(hub.journal, "ana", PASSWORD, Role.ADMIN, actor="test")


def test_unknown_role_is_rejected():
    with pytest.raises(AccountError, match="role 'root' is not a console role"):
        accounts.parse_role("root")


def test_disabled_operator_cannot_sign_in(make_hub):
    hub = make_hub()
    accounts.add_operator(hub.journal, "ana", PASSWORD, Role.VIEWER, actor="test")

    accounts.set_disabled(hub.journal, "ana", True, actor="boss")

    assert accounts.authenticate(hub.journal, "ana", PASSWORD) is None
    assert accounts.get_operator(hub.journal, "ana").disabled


def test_last_enabled_admin_cannot_be_disabled(make_hub):
    hub = make_hub()
    accounts.add_operator(hub.journal, "root", PASSWORD, Role.ADMIN, actor="test")

    with pytest.raises(AccountError, match="operator 'root' is the last enabled admin"):
        accounts.set_disabled(hub.journal, "root", True, actor="root")


def test_account_changes_are_audited(make_hub):
    hub = make_hub()
    accounts.add_operator(hub.journal, "ana", PASSWORD, Role.VIEWER, actor="boss")
    accounts.set_disabled(hub.journal, "ana", True, actor="boss")
    accounts.set_password(hub.journal, "ana", PASSWORD + "2", actor="boss")

    entries = audit.entries(hub.journal)

    assert [(e.operator, e.action, e.target) for e in reversed(entries)] == [
        ("boss", Action.OPERATOR_ADDED, "ana"), ("boss", Action.OPERATOR_DISABLED, "ana"),
        ("boss", Action.PASSWORD_CHANGED, "ana")]
    assert entries[-1].detail == {"role": "viewer"}


def test_first_admin_password_file_is_private(make_hub):
    hub = make_hub()

    path = accounts.ensure_first_admin(hub)

    assert path == hub.config.data_dir / "console-admin-password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    admin = accounts.authenticate(hub.journal, "admin", path.read_text().strip())
    assert admin.role is Role.ADMIN


def test_first_admin_is_created_once(make_hub):
    hub = make_hub()
    path = accounts.ensure_first_admin(hub)
    password = path.read_text()

    again = accounts.ensure_first_admin(hub)

    assert again == path
    assert path.read_text() == password
    assert [o.name for o in accounts.list_operators(hub.journal)] == ["admin"]


def test_no_first_admin_when_an_operator_exists(make_hub):
    hub = make_hub()
    accounts.add_operator(hub.journal, "ana", PASSWORD, Role.ADMIN, actor="test")

    assert accounts.ensure_first_admin(hub) is None
    assert not (hub.config.data_dir / "console-admin-password").exists()


def test_no_first_admin_outside_the_embedded_mode(make_hub):
    hub = make_hub()
    hub.config.broker.url = "amqp://guest@127.0.0.1:5672/"

    assert accounts.ensure_first_admin(hub) is None
    assert accounts.list_operators(hub.journal) == []


def test_operators_add_reads_password_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEW_OPERATOR_PASSWORD", PASSWORD)
    data_dir = tmp_path / "data"

    status = run_operators(["operators", "add", "ana", "--role", "operator", "--password-env",
                            "NEW_OPERATOR_PASSWORD", "--data-dir", str(data_dir)])

    assert status == 0
    journal = Journal(default_config(data_dir).journal_url)
    assert accounts.authenticate(journal, "ana", PASSWORD).role is Role.OPERATOR
    assert audit.entries(journal)[0].operator.startswith("cli:")
    journal.close()


def test_operators_add_without_terminal_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)

    with pytest.raises(AccountError, match="no terminal to ask for the password; pass --password-env"):
        run_operators(["operators", "add", "ana", "--role", "viewer", "--data-dir", str(tmp_path / "data")])


def test_operators_add_with_unset_variable_is_rejected(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)

    with pytest.raises(AccountError, match="environment variable NOT_SET_ANYWHERE is not set"):
        run_operators(["operators", "add", "ana", "--role", "viewer", "--password-env", "NOT_SET_ANYWHERE",
                       "--data-dir", str(tmp_path / "data")])


def test_operators_list_and_disable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PW", PASSWORD)
    data_dir = str(tmp_path / "data")
    run_operators(["operators", "add", "ana", "--role", "viewer", "--password-env", "PW", "--data-dir", data_dir])
    run_operators(["operators", "disable", "ana", "--data-dir", data_dir])
    capsys.readouterr()

    run_operators(["operators", "list", "--data-dir", data_dir])

    line = capsys.readouterr().out.strip()
    assert line.split()[:3] == ["ana", "viewer", "disabled"]


@pytest.mark.integration
def test_accounts_and_audit_on_postgresql(make_hub, postgres_url):
    hub = make_hub(journal_url=postgres_url)
    accounts.add_operator(hub.journal, "ana", PASSWORD, Role.ADMIN, actor="test")
    accounts.add_operator(hub.journal, "bob", PASSWORD, Role.VIEWER, actor="ana")

    accounts.set_disabled(hub.journal, "bob", True, actor="ana")

    assert accounts.authenticate(hub.journal, "ana", PASSWORD).role is Role.ADMIN
    assert accounts.authenticate(hub.journal, "bob", PASSWORD) is None
    assert [e.action for e in audit.entries(hub.journal)] == [
        Action.OPERATOR_DISABLED, Action.OPERATOR_ADDED, Action.OPERATOR_ADDED]
