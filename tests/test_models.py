from __future__ import annotations

from almmigrate.models import Connection, Connector


def test_connection_own_params_drop_inherited_and_derived():
    connector = Connector.from_api(
        {
            "id": 2,
            "name": "Rally",
            "system": {"id": "rally"},
            "params": {"alm_server": "r", "sde_min_priority": "7"},
        }
    )
    connection = Connection.from_api(
        {
            "id": 1,
            "alias": "A",
            "connector": 2,
            "project": 5,
            "system": {"id": "rally"},
            "params": {
                "alm_server": "r",  # inherited, same value
                "sde_min_priority": 7,  # same text, other JSON type: its own
                "alm_project": "P",
                "sde_project": "Demo Project",
                "sde_businessunit": "General",
                "sde_application": "App",
            },
        }
    )
    assert connection.own_params(connector.params) == {"sde_min_priority": 7, "alm_project": "P"}


def test_writes_never_send_derived_params():
    connection = Connection(
        alias="A", connector=1, project=2, params={"sde_project": "x", "alm_project": "P"}
    )
    assert connection.to_api()["params"] == {"alm_project": "P"}
    connector = Connector(name="C", system="jira", params={"alm_server": "s"})
    assert connector.to_api() == {
        "name": "C",
        "system": {"id": "jira"},
        "inaccessible": False,
        "params": {"alm_server": "s"},
    }
