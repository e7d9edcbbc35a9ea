"""``feedback sites``: the websites that embed the intercept loader."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

console = Console(highlight=False)


def _app():  # type: ignore[no-untyped-def]
    from feedback.app import create_app

    return create_app({"LOAD_SURVEYS_ON_START": False})


def _base(app) -> str:  # type: ignore[no-untyped-def]
    return (app.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def register(cli: click.Group) -> None:
    @cli.group()
    def sites() -> None:
        """Websites that show surveys with the intercept script tag."""

    @sites.command("create")
    @click.argument("name")
    @click.option("--origin", "origins", multiple=True, metavar="URL",
                  help="An origin allowed to use the key, e.g. https://shop.example.com (repeatable; none = any).")
    @click.option("--trust-identity", is_flag=True,
                  help="Accept contact ids from the page without a signature (intranets, demos).")
    def sites_create(name: str, origins: tuple[str, ...], trust_identity: bool) -> None:
        """Create a site: prints its public key, its identity secret and the script tag."""
        from feedback.errors import FeedbackError

        from . import operations as iops

        app = _app()
        with app.app_context():
            try:
                site = iops.create_site(name, list(origins), trust_identity=trust_identity)
            except FeedbackError as e:
                _fail(e.message)
                return
            click.echo(f"site:            {site.name}")
            click.echo(f"key (public):    {site.key}")
            click.echo(f"identity secret: {site.identity_secret}")
            click.echo("  (private: your server signs contact ids with it; see docs/web-intercept.md)")
            click.echo(f"origins:         {', '.join(site.origins) or 'any'}")
            click.echo("script tag:")
            click.echo(f'  <script src="{_base(app)}/intercept.js" data-site="{site.key}" async></script>')
            click.echo(f"surveys show on it when their YAML says  intercept: {{site: {site.name}, ...}}")

    @sites.command("list")
    def sites_list() -> None:
        """List the sites, their keys and the surveys whose intercept names them."""
        from . import operations as iops

        app = _app()
        with app.app_context():
            table = Table("site", "key", "origins", "identity", "surveys", "active")
            for site in iops.list_sites():
                surveys = ", ".join(s.survey_id for s in iops.site_surveys(site)) or "-"
                table.add_row(
                    site.name, site.key, ", ".join(site.origins) or "any",
                    "trusted" if site.trust_identity else "signed", surveys, "yes" if site.active else "no",
                )
            console.print(table)

    @sites.command("show")
    @click.argument("name")
    @click.option("--secret", is_flag=True, help="Also print the identity secret.")
    def sites_show(name: str, secret: bool) -> None:
        """Print a site's key and script tag (and its identity secret with --secret)."""
        from feedback.errors import FeedbackError

        from . import operations as iops

        app = _app()
        with app.app_context():
            try:
                site = iops.site_by_name(name)
            except FeedbackError as e:
                _fail(e.message)
                return
            click.echo(f"key: {site.key}")
            if secret:
                click.echo(f"identity secret: {site.identity_secret}")
            click.echo(f'<script src="{_base(app)}/intercept.js" data-site="{site.key}" async></script>')

    @sites.command("update")
    @click.argument("name")
    @click.option("--origin", "origins", multiple=True, metavar="URL", help="Replace the allowed origins (repeatable).")
    @click.option("--any-origin", is_flag=True, help="Allow every origin.")
    @click.option("--trust-identity/--verify-identity", default=None,
                  help="Accept unsigned contact ids, or require the signature.")
    @click.option("--rotate-key", is_flag=True, help="Give the site a new public key (the old one stops working).")
    @click.option("--disable/--enable", default=None, help="Stop (or resume) showing surveys on the site.")
    def sites_update(
        name: str, origins: tuple[str, ...], any_origin: bool, trust_identity: bool | None,
        rotate_key: bool, disable: bool | None,
    ) -> None:
        """Change a site's origins, identity checks, key or state."""
        from feedback.errors import FeedbackError

        from . import operations as iops

        app = _app()
        with app.app_context():
            try:
                site = iops.update_site(
                    name,
                    origins=[] if any_origin else (list(origins) if origins else None),
                    trust_identity=trust_identity,
                    active=None if disable is None else not disable,
                    rotate_key=rotate_key,
                )
            except FeedbackError as e:
                _fail(e.message)
                return
            click.echo(f"{site.name}: key {site.key}, origins {', '.join(site.origins) or 'any'}, "
                       f"identity {'trusted' if site.trust_identity else 'signed'}, "
                       f"{'active' if site.active else 'disabled'}")
