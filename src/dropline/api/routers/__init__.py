"""The API's routes, one subpackage per capability."""
