"""Email keys in their one form (NFKC, case-folded, IDN domains in Unicode): the keys stored by
earlier versions were only lowercased. A key that would now collide with another row's is left
as it was, and reported."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-29T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Email keys normalised one way"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="roster", description=DESCRIPTION)

    async def rekey():
        from app.core.dberrors import is_unique_violation
        from app.core.validation import email_key
        from app.schema.invitations import Invitation
        from app.schema.staff import Admin
        from app.schema.users import User

        for table in (User, Admin, Invitation):
            for row in await table.select(table.id, table.email, table.email_key):
                key = email_key(row["email"])
                if key == row["email_key"]:
                    continue
                try:
                    await table.update({table.email_key: key}).where(table.id == row["id"])
                except Exception as exc:
                    if not is_unique_violation(exc):
                        raise
                    name = table._meta.tablename
                    print(f"{name} #{row['id']}: {key!r} is taken; kept {row['email_key']!r}")

    manager.add_raw(rekey)
    return manager
