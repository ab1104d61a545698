"""`kaohe role grant|revoke|list`: roles from the command line (e.g. the first HR admin)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from kaohe.org.actions import ActionError, do_assign_role, do_revoke_role
from kaohe.org.models import OrgUnit, Role, RoleAssignment


class Command(BaseCommand):
    help = "Grant, revoke or list roles: hr_partner (with --unit), hr_admin, auditor."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True)
        for name in ("grant", "revoke"):
            sub = commands.add_parser(name)
            sub.add_argument("username")
            sub.add_argument("role", choices=Role.values)
            sub.add_argument("--unit", help="org unit code (hr_partner only)")
            sub.add_argument("--create-user", action="store_true", help="create the login")
        commands.add_parser("list")

    def handle(self, *args, action, **options):
        if action == "list":
            return self._list()
        user = self._user(options["username"], create=options.get("create_user"))
        unit = self._unit(options.get("unit"))
        try:
            if action == "grant":
                do_assign_role(None, user, options["role"], unit, system=True)
            else:
                self._revoke(user, options["role"], unit)
        except ActionError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{action}: {user.username} {options['role']} {unit.code if unit else ''}"
        )

    def _list(self):
        assignments = RoleAssignment.objects.select_related("user", "org_unit").order_by(
            "user__username", "role"
        )
        for a in assignments:
            self.stdout.write(
                f"{a.user.username}\t{a.role}\t{a.org_unit.code if a.org_unit else ''}"
            )

    def _user(self, username: str, create: bool):
        users = get_user_model().objects
        user = users.filter(username=username).first()
        if user is None and create:
            user = users.create_user(username=username)
            self.stderr.write(f"created login {username} without a password; set one with "
                              f"`kaohe changepassword {username}`")  # fmt: skip
        if user is None:
            raise CommandError(f"There is no login {username!r} (use --create-user).")
        return user

    def _unit(self, code: str | None) -> OrgUnit | None:
        if not code:
            return None
        unit = OrgUnit.objects.filter(code=code).first()
        if unit is None:
            raise CommandError(f"There is no org unit {code!r}.")
        return unit

    def _revoke(self, user, role: str, unit: OrgUnit | None) -> None:
        assignment = RoleAssignment.objects.filter(user=user, role=role, org_unit=unit).first()
        if assignment is None:
            raise CommandError(f"{user.username} does not have that role.")
        do_revoke_role(None, assignment, system=True)
