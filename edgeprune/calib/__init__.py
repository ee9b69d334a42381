"""INT8 calibration sets (calib/NAME): image selection and the files. TensorRT's calibrator
that reads them is edgeprune.trt.calibrator."""

from edgeprune.calib.calibset import CalibError, CalibSet, load_calib_set, write_calib_set
from edgeprune.calib.make import MadeCalibSet, make_calib_set
from edgeprune.calib.selection import Selection, select_calibration_images

__all__ = ["CalibError", "CalibSet", "MadeCalibSet", "Selection", "load_calib_set",
           "make_calib_set", "select_calibration_images", "write_calib_set"]
