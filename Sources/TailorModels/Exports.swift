// `import TailorModels` is enough to train and serve models: the data types (TailorData) and
// the shared values models are built from (TailorLinalg: matrices, TrainingEvent) come with it.
@_exported import TailorData
@_exported import TailorLinalg
