import param
class HyperspaceView(param.Parameterized):
    def __init__(self, studies, catalog, **params):
        super().__init__(**params)
    def poll(self): pass
