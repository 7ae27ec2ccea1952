"""How people and accounts are named on screen, in emails and in the activity log."""


def full_name(row) -> str:
    return f"{row['first_name']} {row['last_name']}".strip()


def display_name(row) -> str:
    """The account's name as people see it: the company, else the contact's name."""
    return row.get("company_name") or f"{row['first_name']} {row['last_name']}".strip()
