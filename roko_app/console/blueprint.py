"""The console blueprint, shared by the page modules."""

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console")
