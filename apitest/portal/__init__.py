"""The portal: server-rendered pages under ``/portal/`` and the JSON API under ``/api/v1/portal/``, both
over one data layer (:mod:`apitest.portal.data`), with signed-cookie sessions, sign-in and CSRF."""
