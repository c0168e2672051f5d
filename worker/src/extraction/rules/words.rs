//! Closed lists of grammar words (stops, fillers, short answers). They belong to the grammar,
//! not to the vocabulary, so they stay in the code while the lexicon holds the words that name
//! things.

/// Words that end a liked thing: "playing football WITH my friends", "kem LẮM".
#[rustfmt::skip]
pub(super) const PREFERENCE_STOPS: &[&str] = &[
    "with", "because", "cause", "'cause", "when", "while", "since", "after", "before", "every",
    "at", "in", "on", "for", "from", "than", "but", "though", "so", "if", "until", "during",
    "last", "yesterday", "today", "tonight", "now", "too", "either", "anymore", "any more",
    "a lot", "lots", "so much", "very much", "much", "more", "the most", "most", "best",
    "sometimes", "always", "often", "really", "also", "again", "together", "everyday", "at all",
    "right", "anyway", "as well", "like", "which", "that's", "it's", "and then", "instead",
    "lol", "haha", "hehe", "với", "cùng", "ở", "tại", "vì", "bởi vì", "tại vì", "khi", "lúc",
    "mỗi", "hằng", "hàng ngày", "hàng tuần", "lắm", "nhất", "quá", "rồi", "nữa", "ạ", "nhé",
    "nha", "á", "ấy", "đó", "luôn", "cực kỳ", "cực kì", "vô cùng", "hơn", "nhiều", "mà",
    "nhưng", "để", "thôi", "đâu", "nè", "hả", "đấy", "cơ", "với lại", "trong", "vào", "bây giờ",
    "hôm nay", "hôm qua", "cũng", "lắm luôn", "thế", "ghê", "dữ", "kinh khủng", "nên", "its", "not", "không phải",
    // The same words typed without marks, for messages typed so.
    "voi", "cung", "vi", "boi vi", "tai vi", "luc", "moi", "hang ngay", "hang tuan", "lam", "nhat",
    "qua", "roi", "nua", "nhe", "luon", "cuc ky", "cuc ki", "vo cung", "hon", "nhieu", "ma",
    "nhung", "de", "thoi", "ne", "co", "voi lai", "vao", "bay gio", "nen", "hom nay", "hom qua",
    "lam luon", "ghe", "kinh khung",
];

/// Words that end a place, school or job: "Da Nang WITH my parents".
#[rustfmt::skip]
pub(super) const PLACE_STOPS: &[&str] = &[
    "with", "and", "but", "near", "because", "since", "now", "too", "for", "where", "when",
    "which", "who", "so", "right", "close", "next", "anymore", "today", "yesterday", "last",
    "và", "với", "cùng", "nhưng", "gần", "ạ", "nhé", "nha", "đó", "ấy", "từ", "lâu", "rồi",
    "nữa", "vì", "cạnh", "bây giờ", "luôn", "á", "nè", "mà", "thì", "khi", "khi nào", "not",
    "không phải",
    // The same words typed without marks, for messages typed so.
    "va", "voi", "cung", "nhung", "gan", "nhe", "tu", "lau", "roi", "nua", "vi", "canh", "bay gio",
    "luon", "ne", "ma", "thi", "khi nao",
];

/// Words that cannot be part of a name ("Minh AND I'm 8", "Minh EM 8 tuổi").
pub(super) const NAME_STOPS: &[&str] = &[
    "and", "but", "or", "so", "because", "i", "i'm", "im", "my", "is", "was", "who", "which",
    "that", "with", "from", "the", "a", "an", "she", "he", "it", "they", "we", "too", "also",
    "now", "lol", "haha", "years", "year", "old", "like", "likes", "loves", "are", "to", "for",
    "in", "at", "of", "on", "just", "not", "no", "yes", "ok", "okay", "và", "nhưng", "còn", "mà",
    "em", "con", "mình", "tớ", "tôi", "cháu", "tui", "năm", "nay", "tuổi", "học", "sống", "ở",
    "thích", "là", "có", "ạ", "nhé", "nha", "đó", "ấy", "á", "nè", "rồi", "luôn", "của", "nhà",
    "với", "cùng", "hả", "nhỉ", "đấy", "thì", "bị", "đang", "được", "lắm", "quá", "nữa", "hay",
    "rất", "cũng", "gọi", "tên",
    // The same words typed without marks, for messages typed so.
    "va", "nhung", "ma", "toi", "tuoi", "hoc", "co", "nhe", "ne", "roi", "luon", "cua", "voi",
    "cung", "nhi", "thi", "bi", "dang", "duoc", "lam", "qua", "nua", "rat", "goi", "ten",
];

/// First words that make a value a pronoun or filler rather than a thing.
#[rustfmt::skip]
pub(super) const NOT_A_THING: &[&str] = &[
    "it", "that", "this", "them", "you", "him", "her", "everything", "nothing", "anything",
    "something", "what", "it's", "me", "myself", "us", "how", "when", "where", "why", "who",
    "there", "to", "being", "they", "he", "she", "we", "i", "those", "these", "nó", "đó", "gì",
    "bạn", "cậu", "những", "cái đó", "cái này", "họ", "điều", "tất cả", "mọi", "này", "kia",
    "ai",
    // The same words typed without marks, for messages typed so.
    "no", "gi", "cau", "nhung", "cai do", "cai nay", "ho", "dieu", "tat ca", "moi", "nay",
];

/// Leading words that are not part of a value: articles, possessives, Vietnamese classifiers.
pub(super) const LEADING_FILLERS: &[&str] = &[
    "a", "an", "the", "some", "my", "our", "this", "that", "these", "those", "any", "all",
    "lots of", "a lot of", "many", "much", "to", "những", "các", "một", "mấy", "cái", "con", "món",
    "quả", "trái", "chiếc", "cuốn", "quyển", "bộ", "bài", "môn", "màu", "được", "chú", "bé",
    "loại", "cả", "đồ", "both", "either",
    // The same words typed without marks, for messages typed so.
    "nhung", "cac", "mot", "cai", "qua", "trai", "chiec", "cuon", "quyen", "bai", "mau", "duoc",
    "loai",
];

/// Places too generic to be a location ("I live in a house", "Em ở nhà").
#[rustfmt::skip]
pub(super) const GENERIC_PLACES: &[&str] = &[
    "a", "an", "my", "our", "house", "home", "apartment", "flat", "this", "that", "here",
    "there", "it", "city", "town", "village", "countryside", "nhà", "trường", "lớp", "đây",
    "đó", "kia", "với", "cùng", "gần", "trong", "ngoài", "trên", "dưới", "chung", "bên", "một",
    "thành phố", "quê", "đâu",
    // The same words typed without marks, for messages typed so.
    "nha", "truong", "lop", "voi", "cung", "gan", "ngoai", "tren", "duoi", "ben", "mot",
    "thanh pho", "que", "dau",
];

/// Short replies that answer nothing ("Cool.", "Không biết").
#[rustfmt::skip]
pub(super) const NON_ANSWERS: &[&str] = &[
    "yes", "no", "yeah", "yep", "nope", "ok", "okay", "cool", "nice", "sure", "maybe", "idk",
    "dunno", "nothing", "none", "hmm", "um", "i don't know", "not sure", "thanks", "thank you",
    "lol", "haha", "wow", "great", "good", "fine", "không biết", "chưa", "không", "có", "dạ",
    "vâng", "ừ", "cảm ơn", "hihi", "hì hì", "không có",
    // The same words typed without marks, for messages typed so.
    "khong biet", "chua", "khong", "co", "da", "vang", "u", "cam on", "hi hi", "khong co",
];

/// Replies that confirm a yes/no question ("Do you like basketball?" — "Yes!").
#[rustfmt::skip]
pub(super) const YES_ANSWERS: &[&str] = &[
    "yes", "yeah", "yep", "yup", "yes i do", "i do", "of course", "sure", "definitely",
    "totally", "yes please", "uh huh", "có", "có ạ", "dạ có", "vâng", "có chứ", "thích ạ",
    "em có", "con có", "dạ thích", "thích", "có thích", "dạ con thích", "dạ em thích", "ừ",
    "dạ vâng", "yes!", "yes a lot", "yes very much",
    // The same words typed without marks, for messages typed so.
    "co", "co a", "da co", "vang", "co chu", "thich a", "em co", "con co", "da thich", "co thich",
    "da con thich", "da em thich", "u", "da vang",
];

/// Words that make a capitalised name a school ("Nguyen Du Primary School").
pub(super) const SCHOOL_WORDS: &[&str] = &[
    "school",
    "academy",
    "kindergarten",
    "preschool",
    "elementary",
    "primary",
    "college",
];

/// Ordinals in order, so "fourth grade" is grade 4.
pub(super) const ORDINALS: &[&str] = &[
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth",
];
