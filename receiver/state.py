"""Typed application state shared by the routes."""

from __future__ import annotations

from aiohttp import web

from receiver.config import Config
from receiver.store import Store

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
