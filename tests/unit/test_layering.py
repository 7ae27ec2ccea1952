"""The service layer is a one-way stack, so the web pages and the APIs are two callers of the
same rules. Read from the source (every import, including those inside functions):

- no module imports itself back, through any chain (no cycle anywhere in app/);
- the domain (everything that does not speak HTTP) never imports the web layer;
- each package's services import only the services of packages below it in SERVICE_ORDER."""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"

# Lowest first. Tables and the leaf modules (app.errors, app.db, app.names, app.permissions...)
# sit below all of them.
SERVICE_ORDER = (
    "activity",
    "admin",
    "credentials",
    "mail",
    "active_sessions",
    "verification",
    "users",
    "two_factor",
    "clients",
    "access",
    "invitations",
    "auth",
)
ENTRY_POINTS = ("app.__main__", "app.cli", "app.asgi", "app.demo", "app.piccolo_app")


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _read_modules() -> dict[str, tuple[set[str], bool]]:
    """Each module: the app modules it imports, and whether it speaks HTTP (imports litestar)."""
    modules = {}
    for path in APP.rglob("*.py"):
        imported, web = set(), False
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
                web |= node.module.split(".")[0] == "litestar"
                imported |= {n for n in [node.module, *names] if n.startswith("app")}
            elif isinstance(node, ast.Import):
                web |= any(a.name.split(".")[0] == "litestar" for a in node.names)
                imported |= {a.name for a in node.names if a.name.startswith("app")}
        modules[_module_name(path)] = (imported, web)
    # `from app.x import y` names module app.x.y when that is a module, else a name in app.x.
    return {
        name: ({i for i in imported if i in modules and i != name}, web)
        for name, (imported, web) in modules.items()
    }


MODULES = _read_modules()


def _is_web(name: str) -> bool:
    return MODULES[name][1] or name.startswith("app.web")


def _is_domain(name: str) -> bool:
    return not (_is_web(name) or name in ENTRY_POINTS or name.startswith("app.migrations"))


def test_the_reader_sees_the_real_imports():
    # A reader that saw nothing would pass every rule below.
    assert "app.users.services" in MODULES["app.access.services"][0]
    assert _is_web("app.access.controllers") and _is_domain("app.access.services")
    assert not _is_domain("app.auth.strength")  # a POST route, though it lives in auth


def test_no_import_cycle():
    seen, on_path, cycles = set(), [], []

    def visit(name):
        if name in on_path:
            cycles.append(on_path[on_path.index(name) :] + [name])
            return
        if name in seen:
            return
        seen.add(name)
        on_path.append(name)
        for imported in sorted(MODULES[name][0]):
            visit(imported)
        on_path.pop()

    for name in sorted(MODULES):
        visit(name)
    assert cycles == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _is_domain(n)))
def test_the_domain_never_imports_the_web_layer(name):
    assert [i for i in MODULES[name][0] if not _is_domain(i)] == []


@pytest.mark.parametrize("package", SERVICE_ORDER)
def test_services_import_only_services_below_them(package):
    below = SERVICE_ORDER[: SERVICE_ORDER.index(package)]
    services = {f"app.{p}.services" for p in SERVICE_ORDER}
    imported = MODULES[f"app.{package}.services"][0] & services
    assert imported <= {f"app.{p}.services" for p in below}
