from typing import TYPE_CHECKING

from piccolo.columns import BigInt, ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.table import Table

from app.schema.staff import Admin
from app.schema.users import User


class TwoFactor(Table, tablename="two_factor"):
    """One person's TOTP authenticator: a user's or a staff member's (exactly one of the two).

    `secret` is set once the person confirmed a code from it (two-factor authentication is on);
    `pending_secret` is one shown by "Enable" and not confirmed yet, which enables nothing.
    `last_step` is the last time step whose code was accepted: a code is accepted only for a
    later step, by a conditional update, so that no code is ever accepted twice."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    user = ForeignKey(references=User, null=True, unique=True, on_delete=OnDelete.cascade)
    admin = ForeignKey(references=Admin, null=True, unique=True, on_delete=OnDelete.cascade)
    secret = Varchar(length=64, null=True, default=None)
    pending_secret = Varchar(length=64, null=True, default=None)
    last_step = BigInt(default=0)
    enabled_at = Timestamptz(null=True, default=None)


class RecoveryCode(Table, tablename="two_factor_recovery_codes"):
    """A single-use recovery code; only its SHA-256 is stored. A used one is kept with `used_at`
    set (so that typing it again is told "already used"), until the codes are replaced."""

    if TYPE_CHECKING:  # the primary key Piccolo adds to every table
        id: Serial

    two_factor = ForeignKey(references=TwoFactor, null=False, on_delete=OnDelete.cascade)
    code_hash = Varchar(length=64, index=True)
    used_at = Timestamptz(null=True, default=None)
