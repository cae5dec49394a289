"""Command line: ``flask --app wsgi keys | jwks | users | customers | invites | api-keys | purge`` (and ``db``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from . import clock, purge
from .admin import api_key_service, invite_service
from .api_keys import TYPES as API_KEY_TYPES
from .auth import identity_service
from .errors import ApiError
from .extension import medusa_auth
from .keys import ring
from .keys.development import write_private_file
from .keys.material import (
    KeyMaterialError,
    check_algorithm_fits,
    default_algorithm,
    generate_private_key,
    load_private_pem,
    load_public_pem,
    private_key_pem,
    public_jwk,
    public_key_pem,
    thumbprint,
    to_joserfc_key,
    unescape_pem,
)
from .keys.ring import KeySealer, RingError
from .models import isoformat
from .request_data import EMAIL_RULE, is_email
from .security_log import security_event
from .store import customer_service

keys_cli = AppGroup("keys", help="Signing keys.")
jwks_cli = AppGroup("jwks", help="JSON Web Key Sets.")
users_cli = AppGroup("users", help="Users.")
customers_cli = AppGroup("customers", help="Customers (storefront shoppers).")
invites_cli = AppGroup("invites", help="Invites.")
api_keys_cli = AppGroup("api-keys", help="API keys: secret (sk_, HTTP Basic on /admin) and publishable (pk_, /store).")


@keys_cli.command("generate")
@click.option("--type", "key_type", type=click.Choice(["RSA", "EC", "Ed25519"]), default="RSA", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Where to write the private key (mode 0600).")
@click.option("--passphrase", envvar="JWT_SECRET_KEY_PASSPHRASE", help="Encrypt the private key with this.")
def generate_key(key_type: str, out: str | None, passphrase: str | None) -> None:
    """Write a new private key with 0600 permissions and print the .env lines that use it."""
    key = generate_private_key(key_type)
    path = Path(out or Path(current_app.instance_path) / f"jwt-{key_type.lower()}-private.pem").resolve()
    if not write_private_file(path, private_key_pem(key, passphrase)):
        raise click.ClickException(f"{path} exists; choose another --out (keys are never overwritten)")
    public = key.public_key()
    click.echo(f"# private key written to {path} (mode 0600); keep it out of git", err=True)
    click.echo(f"JWT_SECRET_KEY_FILE={path}")
    one_line = public_key_pem(public).strip().replace("\n", "\\n")
    click.echo(f'JWT_PUBLIC_KEY="{one_line}"')
    kid = thumbprint(to_joserfc_key(public))
    click.echo(f"JWT_ALGORITHM={default_algorithm(public)}")
    click.echo(f"JWT_KEYID={kid}")
    security_event("key_generated", kid=kid, key_type=key_type, encrypted=bool(passphrase))


def _ring() -> KeySealer:
    extension = medusa_auth()
    extension.require_configuration()
    if extension.sealer is None:
        raise click.ClickException("the managed key ring needs JWT_KEY_ENCRYPTION_KEY")
    return extension.sealer


def _ring_step(step: Callable[[], str]) -> None:
    try:
        click.echo(step())
    except RingError as error:
        raise click.ClickException(str(error)) from error


@keys_cli.command("rotate")
@click.option("--now", "immediately", is_flag=True, help="Activate the new key at once (a leaked key).")
def rotate_key(immediately: bool) -> None:
    """Publish a new standby key; run again to make it sign and retire the old one."""
    sealer = _ring()
    algorithm = medusa_auth().tokens.options.algorithm
    _ring_step(lambda: ring.rotate(sealer, algorithm, immediately=immediately))


@keys_cli.command("list")
def list_keys() -> None:
    """The ring's keys, oldest first, with their states."""
    _ring()
    for record in ring.all_records():
        moments = {"activated": record.activated_at, "retired": record.retired_at, "revoked": record.revoked_at}
        when = " ".join(f"{name}={isoformat(moment)}" for name, moment in moments.items() if moment)
        click.echo(f"{record.kid}  {record.algorithm:7} {record.state:8} created={isoformat(record.created_at)} {when}")


@keys_cli.command("retire")
@click.argument("kid")
def retire_key(kid: str) -> None:
    """Stop a standby key from ever signing; it stays published until its tokens could have expired.

    A kid is base64url and may start with "-": pass it after "--" (keys retire -- KID)."""
    _ring()
    _ring_step(lambda: ring.retire(kid))


@keys_cli.command("revoke")
@click.argument("kid")
def revoke_key(kid: str) -> None:
    """Withdraw a key at once: it leaves the JWKS and every token it signed is refused.

    A kid is base64url and may start with "-": pass it after "--" (keys revoke -- KID)."""
    _ring()
    _ring_step(lambda: ring.revoke(kid))


@keys_cli.command("import")
@click.argument("pem_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--alg", help="Algorithm (default: from the key type).")
@click.option("--passphrase", envvar="JWT_SECRET_KEY_PASSPHRASE", help="For an encrypted private key.")
def import_key(pem_file: str, alg: str | None, passphrase: str | None) -> None:
    """Move an existing private key (say JWT_SECRET_KEY's) into the ring: active if none is, else standby."""
    sealer = _ring()
    try:
        private = load_private_pem(unescape_pem(Path(pem_file).read_text(encoding="utf-8")), passphrase)
    except (KeyMaterialError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{pem_file}: {error}") from error
    _ring_step(lambda: ring.import_key(sealer, private, alg or default_algorithm(private.public_key())))


@jwks_cli.command("export")
@click.argument("pem_files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--alg", help="Algorithm for every key (default: from the key type).")
@click.option("--kid", help="Key id (one key only; default: the RFC 7638 thumbprint).")
@click.option("--passphrase", envvar="JWT_SECRET_KEY_PASSPHRASE", help="For an encrypted private key.")
def export_jwks(pem_files: tuple[str, ...], alg: str | None, kid: str | None, passphrase: str | None) -> None:
    """Print the JWKS for PEM keys (public or private), or for the configured keys when none is given."""
    if not pem_files:
        document = medusa_auth().keys.jwks
        if document is None:
            raise click.ClickException("no public key is configured; pass PEM files")
        click.echo(document.body.decode())
        return
    if kid and len(pem_files) > 1:
        raise click.ClickException("--kid names one key; pass one PEM file with it")
    keys = []
    for name in pem_files:
        try:
            text = unescape_pem(Path(name).read_text(encoding="utf-8"))
            public = load_private_pem(text, passphrase).public_key() if "PRIVATE" in text else load_public_pem(text)
            algorithm = alg or default_algorithm(public)
            check_algorithm_fits(algorithm, public)
        except KeyMaterialError as error:
            raise click.ClickException(f"{name}: {error}") from error
        except (OSError, UnicodeDecodeError) as error:
            raise click.ClickException(f"{name}: not a PEM text file") from error
        wrapped = to_joserfc_key(public)
        keys.append(public_jwk(wrapped, kid or thumbprint(wrapped), algorithm))
    click.echo(json.dumps({"keys": keys}, separators=(",", ":")))


def one_email_address(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Click callback: the API's rule for an email (``request_data.is_email``), checked before any work."""
    if not is_email(value):
        raise click.BadParameter(f"must be {EMAIL_RULE}")
    return value


@users_cli.command("create")
@click.option("--email", required=True, callback=one_email_address)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--first-name")
@click.option("--last-name")
def create_user(email: str, password: str, first_name: str | None, last_name: str | None) -> None:
    """Create a user who signs in with this email and password."""
    medusa_auth().require_configuration()
    try:
        user = identity_service.create_user(email, password, first_name, last_name)
    except ApiError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"created {user.id} <{user.email}>")


@customers_cli.command("create")
@click.option("--email", required=True, callback=one_email_address)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--first-name")
@click.option("--last-name")
def create_customer(email: str, password: str, first_name: str | None, last_name: str | None) -> None:
    """Create a customer who signs in to the storefront with this email and password."""
    medusa_auth().require_configuration()
    try:
        customer = customer_service.create_customer_with_password(email, password, first_name, last_name)
    except ApiError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"created {customer.id} <{customer.email}>")


@customers_cli.command("list")
def list_customers() -> None:
    """Every customer: id, email, name, created (oldest first)."""
    medusa_auth().require_configuration()
    customers, _ = customer_service.list_customers(0, 10**9)
    for customer in customers:
        name = " ".join(part for part in (customer.first_name, customer.last_name) if part)
        click.echo(f"{customer.id}\t{customer.email}\t{name}\t{isoformat(customer.created_at)}")


@invites_cli.command("create")
@click.option("--email", required=True, callback=one_email_address)
@click.option("--send-email/--no-send-email", default=False, help="Also mail the link (MAIL_* settings).")
def create_invite(email: str, send_email: bool) -> None:
    """Invite an email and print the accept link (to share by hand, or mailed with --send-email)."""
    medusa_auth().require_configuration()
    try:
        issued = invite_service.create_invite(email, None, None, send_email=send_email)
    except ApiError as error:
        raise click.ClickException(error.message) from error
    click.echo(
        f"created {issued.invite.id} <{issued.invite.email}>, expires {isoformat(issued.invite.expires_at)}", err=True
    )
    if issued.delivery is not None and not issued.delivery.sent:
        click.echo(f"warning: {issued.delivery.detail}", err=True)
    click.echo(invite_service.invite_link(issued.token))


@invites_cli.command("list")
def list_invites() -> None:
    """Every invite: id, email, status, expiry (never a token)."""
    medusa_auth().require_configuration()
    invites, _ = invite_service.list_invites(0, 10**9, None)
    for invite in invites:
        click.echo(f"{invite.id}\t{invite.email}\t{invite_service.status(invite)}\t{isoformat(invite.expires_at)}")


@api_keys_cli.command("create")
@click.option("--title", required=True)
@click.option("--type", "kind", type=click.Choice(API_KEY_TYPES), required=True)
def create_api_key(title: str, kind: str) -> None:
    """Create a key and print its token (a secret key's is shown this once only)."""
    medusa_auth().require_configuration()
    if not title.strip() or len(title) > 255:
        raise click.BadParameter("must be 1 to 255 characters", param_hint="--title")
    try:
        created = api_key_service.create_key(title, kind)
    except ApiError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"created {created.api_key.id} ({kind}, {created.api_key.redacted})", err=True)
    click.echo(created.token)


@api_keys_cli.command("list")
def list_api_keys() -> None:
    """Every key: id, type, redacted token, title, revoked (oldest first; never a secret key's token)."""
    medusa_auth().require_configuration()
    keys, _ = api_key_service.list_keys(0, 10**9)
    for key in keys:
        revoked = f"revoked {isoformat(key.revoked_at)}" if key.revoked_at else "live"
        click.echo(f"{key.id}\t{key.type}\t{key.redacted}\t{key.title}\t{revoked}")


@api_keys_cli.command("revoke")
@click.argument("key_id")
def revoke_api_key(key_id: str) -> None:
    """Revoke a key now (every instance stops taking it within REVOCATION_REFRESH_SECONDS)."""
    medusa_auth().require_configuration()
    try:
        key = api_key_service.revoke_key(key_id, None)
    except ApiError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"revoked {key.id} at {isoformat(key.revoked_at)}")


@click.command("purge")
@click.option(
    "--expired-invites-days",
    type=click.IntRange(min=0),
    help="Also delete invites never accepted that expired at least this many days ago (default: keep them).",
)
@with_appcontext
def purge_expired(expired_invites_days: int | None) -> None:
    """Delete what has expired: ended sessions, reset links, throttle windows, spent keys (run it from cron)."""
    medusa_auth().require_configuration()
    options = purge.PurgeOptions(now=clock.now_datetime(), expired_invites_days=expired_invites_days)
    counts = purge.run(options)
    for step, count in counts.items():
        click.echo(f"{step.name}: {step.skipped if count is None else f'{count} deleted'}")
    security_event("purged", **{step.name.replace(" ", "_"): count for step, count in counts.items() if count})


def register_commands(app: Flask) -> None:
    for group in (keys_cli, jwks_cli, users_cli, customers_cli, invites_cli, api_keys_cli):
        app.cli.add_command(group)
    app.cli.add_command(purge_expired)
