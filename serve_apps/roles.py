"""The roles a bearer token may carry in its `role` claim; a module of its own so that the CLI
can offer them without importing the token machinery."""

USER, OPERATOR, ADMIN = "user", "operator", "admin"
ROLES: tuple[str, ...] = (USER, OPERATOR, ADMIN)
# An operator runs one tenant's fleet; an administrator is also an operator of its own tenant
# and changes what every tenant shares (the models served).
OPERATOR_ROLES = frozenset({OPERATOR, ADMIN})
