"""MLflow "models from code" definition of a fitted law (logged by :func:`mixtures.laws.tracking.log_law`).

MLflow runs this file when the model is loaded; the law itself is the ``law`` artifact (JSON).
"""

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class LawModel(PythonModel):
    """Predicts the law's target losses from a frame of ``w_<domain>`` (+ scale) columns."""

    def load_context(self, context):
        from mixtures.laws import load_law

        self.law = load_law(context.artifacts["law"])

    # Typed, so MLflow knows the input is a frame (an untyped predict gets a warning at every import).
    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.law.predict(model_input)


mlflow.models.set_model(LawModel())
