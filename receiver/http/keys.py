"""Typed application state shared by the routes."""

from __future__ import annotations

from aiohttp import web

from deployers.base import Deployers
from receiver.clock import Clock
from receiver.config.loading import Config
from receiver.decide.actions import RepositoryActions
from receiver.decide.planner import Planner
from receiver.decide.release import ReleaseControl
from receiver.metrics import Metrics
from receiver.registry.client import RegistryClient
from receiver.runtime import Services
from receiver.store import Store

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
DEPLOYERS = web.AppKey("deployers", Deployers)
PLANNER = web.AppKey("planner", Planner)
REGISTRIES = web.AppKey("registries", RegistryClient)
ACTIONS = web.AppKey("actions", RepositoryActions)
METRICS = web.AppKey("metrics", Metrics)
RELEASE = web.AppKey("release", ReleaseControl)
CLOCK = web.AppKey("clock", Clock)
# Everything the running service holds (the composition root's record), for what is not a route.
SERVICES = web.AppKey("services", Services)
