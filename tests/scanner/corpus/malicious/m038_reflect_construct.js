const f = Reflect.construct(Function, ['return 1']);
f();
