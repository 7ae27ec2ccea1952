"""On a phone, table rows become stacked cards and each value is shown beside its column's name
(td[data-label], roster.css): every cell of every data table says which column it is."""

from app.domain.access import services as access
from app.domain.invitations import services as invitations
from tests.factories import ADMIN, make_client, make_user
from tests.integration.conftest import page

# Where a phone's narrow label column says a long heading shorter.
SHORTER = {
    "Name / Email Address": "User",
    "Last Login Time": "Last Login",
    "Last Login Details": "Login Details",
    "Email Address": "Invited",  # the account's pending invites
}


def unlabelled_cells(soup) -> list[str]:
    """Cells whose data-label is missing or is not their column's heading (or its short form)."""
    wrong = []
    for table in soup.select("table.data"):
        headings = [
            th.get_text(" ", strip=True) for th in table.select("thead tr")[0].find_all("th")
        ]
        for row in table.select("tbody tr"):
            cells = row.find_all("td", recursive=False)
            if len(cells) == 1 and cells[0].get("colspan"):
                continue  # an empty state across the table
            for heading, cell in zip(headings, cells, strict=True):
                if cell.get("data-label") not in (heading, SHORTER.get(heading)):
                    wrong.append(f"{heading!r}: {cell.get('data-label')!r} in {row.get('id')}")
    return wrong


async def test_every_data_table_labels_its_cells_for_phones(http, admin_session):
    client_id, owner = await make_client("Phone Co", owner_email="phone.owner@example.com")
    member = await make_user("Pat", "Phone", email="pat.phone@example.com")
    await access.grant_access(client_id, member["id"], ["tickets"], actor=ADMIN)
    await invitations.invite(client_id, "phone.invitee@example.com", ["quotes"], actor=ADMIN)
    pages = [
        "/admin/users",
        f"/admin/users/{owner['id']}",
        "/admin/clients",
        f"/admin/clients/{client_id}/users",
        "/admin/activity",
        "/admin/mail",
        "/admin/security",
    ]
    for url in pages:
        response = await http.get(url)
        assert response.status_code == 200, url
        soup = page(response)
        assert soup.select("table.data tbody tr"), f"{url} shows no table rows"
        assert unlabelled_cells(soup) == [], url
