from devstack.accloud.server import serve

serve()
