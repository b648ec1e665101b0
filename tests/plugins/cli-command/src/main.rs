fn main() {
    println!("I am a plain command, not an Airlock plugin");
}
