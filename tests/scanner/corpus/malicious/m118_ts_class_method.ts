abstract class Base<T> {
  @logged
  protected compile(src: string): () => T {
    return new Function(src) as () => T;
  }
}
