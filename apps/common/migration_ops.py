"""Migration operations shared by several apps."""

from django.db import migrations, models

from apps.common.models import site_key


def site_key_index_dropped(
    app_label: str, *model_names: str
) -> migrations.SeparateDatabaseAndState:
    """Move tenant tables' site keys to `site_key()` (no index of their own).

    Django's own AlterField would drop the foreign key and add it back, checking every
    stored row again under a lock; here the state changes and the database only loses the
    index Django made for the key. Reversible: the index comes back."""

    def index_name(apps, schema_editor, model_name: str) -> tuple[str, str]:
        table = apps.get_model(app_label, model_name)._meta.db_table
        return table, schema_editor._create_index_name(table, ["site_id"], suffix="")

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            # Each drop locks its table until the migration commits: give up (and let the
            # deploy retry) rather than queue identify calls behind a long-running query.
            schema_editor.execute("SET LOCAL lock_timeout = '5s'")
        for model_name in model_names:
            _, name = index_name(apps, schema_editor, model_name)
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")

    def backwards(apps, schema_editor):
        for model_name in model_names:
            table, name = index_name(apps, schema_editor, model_name)
            schema_editor.execute(
                f"CREATE INDEX {schema_editor.quote_name(name)} "
                f"ON {schema_editor.quote_name(table)} ({schema_editor.quote_name('site_id')})"
            )

    return migrations.SeparateDatabaseAndState(
        state_operations=[
            migrations.AlterField(
                model_name=model_name,
                name="site",
                field=site_key(),
            )
            for model_name in model_names
        ],
        database_operations=[migrations.RunPython(forwards, backwards)],
    )


def storage_parameters_set(
    app_label: str, model_name: str, parameters: dict[str, str]
) -> migrations.RunPython:
    """Set a table's storage parameters (`ALTER TABLE … SET (…)`) on PostgreSQL; other
    databases have none. Reversible: the parameters go back to the server's defaults."""

    def table(apps, schema_editor) -> str:
        model = apps.get_model(app_label, model_name)
        return schema_editor.quote_name(model._meta.db_table)

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            assigned = ", ".join(f"{name} = {value}" for name, value in parameters.items())
            schema_editor.execute(f"ALTER TABLE {table(apps, schema_editor)} SET ({assigned})")

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            names = ", ".join(parameters)
            schema_editor.execute(f"ALTER TABLE {table(apps, schema_editor)} RESET ({names})")

    return migrations.RunPython(forwards, backwards, elidable=False)


def index_added_concurrently(
    app_label: str, model_name: str, index: models.Index
) -> migrations.SeparateDatabaseAndState:
    """Add an index without blocking the table's writes while it is built: `CREATE INDEX
    CONCURRENTLY` on PostgreSQL (the migration must say `atomic = False`), a plain one
    elsewhere. Reversible, and safe to run again after a failure part way
    (`index_replaced_concurrently`)."""
    return index_replaced_concurrently(app_label, model_name, old=None, new=index)


def index_replaced_concurrently(
    app_label: str, model_name: str, *, old: models.Index | None, new: models.Index
) -> migrations.SeparateDatabaseAndState:
    """Build `new`, then drop `old` (if any), each without blocking the table's writes
    (CONCURRENTLY on PostgreSQL; the migration must say `atomic = False`). Reversible,
    and on PostgreSQL safe to run again after a failure part way: a statement that ran
    outside a transaction stays done, so an index already built is kept, one left
    invalid by an interrupted build is dropped and built again, and one already dropped
    is not dropped twice."""

    def run(apps, schema_editor, operation: str, index: models.Index):
        model = apps.get_model(app_label, model_name)
        if schema_editor.connection.vendor != "postgresql":
            getattr(schema_editor, operation)(model, index)
            return
        valid = _index_valid(schema_editor, index.name)
        if operation == "add_index" and valid is True:
            return
        if valid is not None:  # an index to drop, or an invalid one to build again
            schema_editor.execute(
                f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(index.name)}"
            )
        if operation == "add_index":
            schema_editor.add_index(model, index, concurrently=True)

    def swap(apps, schema_editor, built: models.Index | None, dropped: models.Index | None):
        if built is not None:
            run(apps, schema_editor, "add_index", built)
        if dropped is not None:
            run(apps, schema_editor, "remove_index", dropped)

    def forwards(apps, schema_editor):
        swap(apps, schema_editor, new, old)

    def backwards(apps, schema_editor):
        swap(apps, schema_editor, old, new)

    state = [migrations.AddIndex(model_name=model_name, index=new)]
    if old is not None:
        state.insert(0, migrations.RemoveIndex(model_name=model_name, name=old.name))
    return migrations.SeparateDatabaseAndState(
        state_operations=state,
        database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
    )


def table_analyzed(app_label: str, model_name: str) -> migrations.RunPython:
    """`ANALYZE` a table on PostgreSQL, so that the planner has the statistics of an
    expression index built just before, instead of waiting for autovacuum's next pass."""

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            model = apps.get_model(app_label, model_name)
            schema_editor.execute(f"ANALYZE {schema_editor.quote_name(model._meta.db_table)}")

    return migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)


def _index_valid(schema_editor, name: str) -> bool | None:
    """Whether PostgreSQL holds a valid index of this name (False: one left invalid by an
    interrupted CREATE INDEX CONCURRENTLY), or None for no such index."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s AND pg_table_is_visible(c.oid)",
            [name],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def lock_timeout_set(seconds: int = 5) -> migrations.RunPython:
    """On PostgreSQL, the migration's later statements give up on a lock they wait for
    longer than `seconds` (and let the deploy retry) rather than queue every call that
    touches the table behind a long-running query. Put it first in an atomic migration."""

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"SET LOCAL lock_timeout = '{int(seconds)}s'")

    return migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)


class ForeignKeyMadeNullable(migrations.AlterField):
    """`AlterField` to a copy of a foreign key that also takes NULL. On PostgreSQL one
    `ALTER COLUMN … DROP NOT NULL`: Django's own drops the foreign key and adds it back,
    checking every stored row again under the table's lock. Elsewhere as Django does it."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        self._not_null(schema_editor, to_state.apps.get_model(app_label, self.model_name), "DROP")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        self._not_null(schema_editor, from_state.apps.get_model(app_label, self.model_name), "SET")

    def _not_null(self, schema_editor, model, action: str) -> None:
        column = model._meta.get_field(self.name).column
        schema_editor.execute(
            f"ALTER TABLE {schema_editor.quote_name(model._meta.db_table)} "
            f"ALTER COLUMN {schema_editor.quote_name(column)} {action} NOT NULL"
        )
