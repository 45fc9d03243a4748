"""The wechat API keeps no state of its own: no models, so no migrations."""
