"""The floor plan, read from the source (every import, including those inside functions).

app/ is a stack of layers, each a folder; a package imports only from the layers below it:

    entry points   app.asgi, app.cli, app.demo, app.serving, app.__main__
    http           app.http.<area>: client, admin, public, api, whmcs, live, metrics
                   (areas never import each other), over app.http.shared (pieces two
                   areas show), over app.http.plumbing (rendering, errors, forms, guards)
    domain         app.domain.<domain>: the rules, each domain only over those before it
                   in DOMAIN_ORDER
    schema         app.schema: every table, the migrations
    core           app.core: configuration, the database helpers, errors, validation

No package imports one above it, none imports one beside it, so no two packages import each
other and there is no loop, of modules or of packages."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"

# Lowest first.
DOMAIN_ORDER = (
    "live",
    "throttle",
    "activity",
    "webhook_queue",
    "events",
    "staff",
    "presets",
    "credentials",
    "mail",
    "webhooks",
    "active_sessions",
    "verification",
    "users",
    "two_factor",
    "passkeys",
    "clients",
    "access",
    "invitations",
    "sso",
    "auth",
    "oauth",
)
HTTP_AREAS = ("client", "admin", "public", "api", "whmcs", "live", "metrics", "oauth")
ENTRY_POINTS = ("app", "app.__main__", "app.cli", "app.asgi", "app.demo", "app.serving")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _read_modules() -> dict[str, tuple[set[str], bool]]:
    """Each module: the app modules it imports, and whether it speaks HTTP (imports litestar)."""
    modules = {}
    for path in [*APP.rglob("*.py"), ROOT / "piccolo_conf.py"]:
        imported, web = set(), False
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
                web |= node.module.split(".")[0] == "litestar"
                imported |= {
                    n for n in [node.module, *names] if n.split(".")[0] in ("app", "piccolo_conf")
                }
            elif isinstance(node, ast.Import):
                web |= any(a.name.split(".")[0] == "litestar" for a in node.names)
                imported |= {a.name for a in node.names if a.name.split(".")[0] == "app"}
        modules[_module_name(path)] = (imported, web)
    # `from app.x import y` names module app.x.y when that is a module, else a name in app.x.
    return {
        name: ({i for i in imported if i in modules and i != name}, web)
        for name, (imported, web) in modules.items()
    }


MODULES = _read_modules()


def package_of(module: str) -> str:
    """The unit of the floor plan a module belongs to."""
    parts = module.split(".")
    if parts[0] == "piccolo_conf" or parts[:2] in (["app", "core"], ["app", "schema"]):
        return "app.schema" if parts[:2] == ["app", "schema"] else "app.core"
    if parts[:2] in (["app", "domain"], ["app", "http"]) and len(parts) > 2:
        return ".".join(parts[:3])
    return module  # an entry point


def rank(package: str) -> tuple[int, int]:
    """(layer, place within the layer): a package may import only packages of lower rank."""
    kind, _, name = package.removeprefix("app.").partition(".")
    if kind == "core":
        return (0, 0)
    if kind == "schema":
        return (1, 0)
    if kind in ("domain", "http") and not name:
        return (2 if kind == "domain" else 3, -1)  # the folder's own empty __init__
    if kind == "domain":
        return (2, DOMAIN_ORDER.index(name))
    if kind == "http":
        return (3, 0) if name == "plumbing" else (3, 1) if name == "shared" else (3, 2)
    assert package in ENTRY_POINTS, f"{package} has no place in the floor plan"
    return (4, 0)


PACKAGE_IMPORTS = {
    (package_of(module), package_of(imported))
    for module, (imports, _web) in MODULES.items()
    for imported in imports
    if package_of(module) != package_of(imported)
}


def test_the_reader_sees_the_real_imports():
    # A reader that saw nothing would pass every rule below.
    assert "app.domain.users.services" in MODULES["app.domain.access.services"][0]
    assert ("app.http.admin", "app.domain.access") in PACKAGE_IMPORTS
    assert ("app.schema", "app.core") in PACKAGE_IMPORTS
    assert MODULES["app.http.public.strength"][1]  # speaks HTTP
    assert package_of("app.domain.throttle") == "app.domain.throttle"


def test_every_module_has_a_place_in_the_floor_plan():
    for module in MODULES:
        rank(package_of(module))
    for name in DOMAIN_ORDER:
        assert (APP / "domain" / name).is_dir() or (APP / "domain" / f"{name}.py").is_file()
    assert {p.name for p in (APP / "http").iterdir() if p.is_dir() and p.name[0] != "_"} == {
        *HTTP_AREAS,
        "plumbing",
        "shared",
    }


@pytest.mark.parametrize("package", sorted({p for pair in PACKAGE_IMPORTS for p in pair}))
def test_a_package_imports_only_packages_below_it(package):
    above_or_beside = sorted(
        imported
        for importer, imported in PACKAGE_IMPORTS
        if importer == package
        and rank(imported) >= rank(package)
        # entry points use each other (the command serves, loads the demo)
        and not (rank(package)[0] == 4 and rank(imported)[0] == 4)
    )
    assert above_or_beside == []


def test_no_two_packages_import_each_other():
    assert sorted((a, b) for a, b in PACKAGE_IMPORTS if (b, a) in PACKAGE_IMPORTS) == []


def test_no_module_import_cycle():
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


@pytest.mark.parametrize(
    "name", sorted(n for n in MODULES if rank(package_of(n))[0] < 3 and n != "piccolo_conf")
)
def test_below_the_http_layer_nothing_speaks_http(name):
    assert not MODULES[name][1]
