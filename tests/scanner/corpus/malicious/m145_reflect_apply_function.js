Reflect.apply(Function, null, ['return globalThis.process'])();
