// The umbrella module: `import Tailor` brings every Tailor module. Depend on the single
// products (TailorModels, TailorSQLite…) instead to link only what you use.
@_exported import TailorLinalg
@_exported import TailorData
@_exported import TailorModels
@_exported import TailorEval
@_exported import TailorStore
@_exported import TailorSQLite
@_exported import TailorAutodiff
@_exported import TailorNN
@_exported import TailorText
@_exported import TailorExperiments
