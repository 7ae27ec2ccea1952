"""The WHMCS-compatible API: POST /includes/api.php (see endpoint.py)."""
