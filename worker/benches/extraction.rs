//! Rules extraction of one 30-turn conversation (15 user and 15 assistant messages, English,
//! Vietnamese with and without marks, mixed): the CPU one job spends reading what was said.
//! Goal (issue 16): ≤ 2 ms.
//!
//! `cargo bench -p pika-worker --bench extraction`

use criterion::{Criterion, criterion_group, criterion_main};
use pika_domain::{ChatMessage, Role};
use pika_worker::extraction::rules::RulesExtractor;

const USER_TURNS: [&str; 15] = [
    "hi im Linh and im 8 lol",
    "My favourite colour is blue and I like pizza, ice cream and noodles.",
    "no wait, now i like green better",
    "I have two dogs, Max and Bella 🐶🐶 and a cat",
    "her name is Pepper",
    "Em tên là Bảo, năm nay em 9 tuổi, nhà em ở Đà Nẵng.",
    "Em thích ăn phở với bún chả lắm, nhưng em không thích rau muống.",
    "minh hoc lop 3 truong Le Loi, minh thich mau tim nhat",
    "My best food là bánh mì, and I also like trà sữa",
    "I can't drink milk, I'm allergic",
    "my favorite color used to be pink but now it's purple 💜",
    "Hồi trước em thích màu hồng nhưng giờ em thích màu tím hơn.",
    "When I grow up I want to be a vet because I love animals.",
    "Do you like cats? If I had a rabbit I would call it Snow.",
    "today at school we did a science thing and i had sushi which is my favourite food ever",
];

const ASSISTANT_TURNS: [&str; 15] = [
    "Hi Linh! What's your favourite colour?",
    "Blue like the sea! What else do you like?",
    "Green is lovely. Do you have any pets?",
    "What's your cat's name?",
    "Pepper is a sweet name!",
    "Chào Bảo! Em thích ăn gì nhất?",
    "Ngon quá! Em học lớp mấy?",
    "Màu tím đẹp ghê!",
    "Bánh mì ngon lắm!",
    "Thanks for telling me, that's important!",
    "Purple is a great colour.",
    "Màu tím đẹp lắm!",
    "A vet! That's a wonderful dream.",
    "I think cats are lovely!",
    "Sushi sounds yummy!",
];

fn conversation() -> Vec<ChatMessage> {
    USER_TURNS
        .iter()
        .zip(ASSISTANT_TURNS)
        .flat_map(|(user, assistant)| {
            [
                ChatMessage::new(Role::User, user).expect("a valid message"),
                ChatMessage::new(Role::Assistant, assistant).expect("a valid message"),
            ]
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rules = RulesExtractor::new();
    let messages = conversation();
    assert_eq!(messages.len(), 30);
    assert!(
        !rules.extract_messages(&messages).is_empty(),
        "the conversation yields facts"
    );
    c.bench_function("rules: extract a 30-turn conversation", |b| {
        b.iter(|| rules.extract_messages(std::hint::black_box(&messages)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
